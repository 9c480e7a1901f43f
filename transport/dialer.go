package transport

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// DialFunc opens a network connection, as net.Dialer.DialContext does.
type DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// DefaultHandshakeTimeout bounds each TLS handshake of a dialer made by
// NewTLSDialer when the context has no earlier deadline; it is the
// http.Transport default that DialTLSContext bypasses.
const DefaultHandshakeTimeout = 10 * time.Second

// NewTLSDialer returns a function, meant for http.Transport.DialTLSContext,
// that opens a connection with dial and completes a TLS client handshake
// with the settings of ClientConfig. The server certificate is checked
// against ServerName or, when that is empty, against the host part of the
// dialled address. Unlike ClientConfig on its own, this works for IP
// addresses: Go sends no IP address in SNI, so a VerifyConnection hook
// cannot see it, while the dialer knows it. Certificates and the CA bundle
// are still reread on every handshake.
//
// A nil dial means a net.Dialer. The returned connection is a *tls.Conn
// whose handshake has completed.
func (info TLSInfo) NewTLSDialer(dial DialFunc) (DialFunc, error) {
	cfg, v, err := info.clientConfig()
	if err != nil {
		return nil, err
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	d := &tlsDialer{dial: dial, cfg: cfg, verifier: v, serverName: info.ServerName}
	return d.dialContext, nil
}

// tlsDialer is the state behind a NewTLSDialer function. It is immutable.
type tlsDialer struct {
	dial DialFunc
	cfg  *tls.Config
	// verifier is the ClientConfig's VerifyConnection state, or nil when
	// crypto/tls verifies the server itself.
	verifier   *peerVerifier
	serverName string
}

// dialContext dials addr and runs the handshake, bounded by ctx and
// DefaultHandshakeTimeout.
func (d *tlsDialer) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	raw, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultHandshakeTimeout)
	defer cancel()
	conn := tls.Client(raw, d.configFor(cmp.Or(d.serverName, host)))
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// configFor returns the config for one connection to a server that must
// prove it is name (a DNS name or an IP address).
func (d *tlsDialer) configFor(name string) *tls.Config {
	cfg := d.cfg.Clone()
	cfg.ServerName = name
	if d.verifier != nil {
		v := *d.verifier
		v.serverName = name
		cfg.VerifyConnection = v.verifyConnection
	}
	return cfg
}
