package transport

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

var (
	// ErrPeerNotAllowed fails a handshake whose verified peer certificate
	// matches none of the allowed CNs or hostnames.
	ErrPeerNotAllowed = errors.New("transport: peer certificate matches no allowed CN or hostname")
	// ErrNoServerName fails a client handshake against TrustedCAFile when
	// no host name is known to check the server certificate against.
	ErrNoServerName = errors.New("transport: no server name to verify the server certificate against")
	// ErrNonEmptyCN is returned when EmptyCN is set but the client
	// certificate has a common name.
	ErrNonEmptyCN = errors.New("transport: certificate has a non-empty common name")

	errNoKeyPair       = errors.New("transport: CertFile and KeyFile must both be set")
	errHalfClientPair  = errors.New("transport: ClientCertFile and ClientKeyFile must both be set or both be empty")
	errAllowedConflict = errors.New("transport: allowed CN and hostname settings are mutually exclusive")
	errAllowedNoAuth   = errors.New("transport: allowed CNs or hostnames need ClientCertAuth or TrustedCAFile on a server")
	errNoCACerts       = errors.New("transport: no certificates found in CA file")
	errNoPeerCert      = errors.New("transport: peer sent no certificate")
)

// TLSInfo names the files and policies for one side of a TLS connection.
// Its zero value is Empty; ClientConfig then yields a config that verifies
// servers against the system roots, and ServerConfig fails. TLSInfo is a
// plain value: the configs built from it keep a copy.
type TLSInfo struct {
	// CertFile and KeyFile hold the PEM certificate and key served by
	// ServerConfig, and presented by ClientConfig when ClientCertFile is
	// empty. Both or neither must be set.
	CertFile string
	KeyFile  string
	// ClientCertFile and ClientKeyFile, if set, are presented by
	// ClientConfig instead of CertFile and KeyFile. Both or neither.
	ClientCertFile string
	ClientKeyFile  string

	// TrustedCAFile is a PEM bundle of CAs that peer certificates must chain
	// to. Empty means the system roots. It is reread on every handshake.
	TrustedCAFile string
	// ClientCertAuth makes ServerConfig require and verify a client
	// certificate. A non-empty TrustedCAFile implies it.
	ClientCertAuth bool
	// CRLFile, if set, names a certificate revocation list: one DER list,
	// or PEM with one or more "X509 CRL" blocks. A peer that presents a
	// certificate whose serial number it lists fails the handshake with
	// ErrCertificateRevoked: client certificates on a server (with client
	// authentication), the server's certificate on a client. As in etcd,
	// every certificate the peer sends is checked by serial number alone;
	// the list's signature and dates are not (the file is trusted like
	// TrustedCAFile; a list past its NextUpdate is logged). The file is
	// read on every handshake and parsed again when its contents change;
	// one that cannot be read or parsed fails the handshake. Building a
	// config fails if it cannot be read and parsed then.
	CRLFile string
	// InsecureSkipVerify makes ClientConfig accept any server certificate.
	// Allowed CN or hostname checks still apply to the presented one.
	InsecureSkipVerify bool
	// SkipClientSANVerify turns off the client SAN check of WrapListener
	// (and so of rafthttp.NewListener): by default, as in etcd, a client
	// certificate that carries IP or DNS SANs must match the address the
	// connection comes from. The tls.Configs alone never make that check.
	SkipClientSANVerify bool

	// ServerName is the host name a client expects in the server
	// certificate when the dialled address gives none (an IP address).
	// Empty means the dialled host.
	ServerName string

	// HandshakeFailure, if set, is called by WrapListener (and so by
	// rafthttp.NewListener) with each connection whose handshake or client
	// SAN check failed, and the reason, before the connection is closed.
	// It is called from the handshake's own goroutine, so it must be safe
	// for concurrent use. The tls.Configs alone never call it.
	HandshakeFailure func(*tls.Conn, error)

	// CipherSuites restricts TLS 1.2 cipher suites, in preference order.
	// Nil or empty means Go's defaults.
	CipherSuites []uint16
	// MinVersion is the lowest TLS version accepted; zero means TLS 1.2.
	MinVersion uint16
	// MaxVersion is the highest TLS version offered; zero means Go's default.
	MaxVersion uint16

	// AllowedCN, if set, is the only peer certificate common name accepted.
	//
	// Deprecated: use AllowedCNs.
	AllowedCN string
	// AllowedHostname, if set, must match the peer certificate (see
	// x509.Certificate.VerifyHostname).
	//
	// Deprecated: use AllowedHostnames.
	AllowedHostname string
	// AllowedCNs, if non-empty, lists the accepted peer common names.
	AllowedCNs []string
	// AllowedHostnames, if non-empty, lists host names or IPs of which the
	// peer certificate must match at least one.
	//
	// At most one of the four Allowed fields may be set. They apply to the
	// peer on both sides: client certificates on a server and the server
	// certificate on a client.
	AllowedHostnames []string

	// Logger receives warnings about certificate, CA and CRL files that fail
	// to load during a handshake (a CRL file once per cause, not per
	// handshake), CRL reloads, and WrapListener's rejected connections.
	// Nil discards them.
	Logger *zap.Logger

	// EmptyCN makes ClientConfig refuse a client certificate whose common
	// name is not empty, both when building and on every handshake.
	EmptyCN bool

	// LocalAddr is the local IP address (or a host name resolving to one)
	// that rafthttp's dialer and NewRoundTripper connect from; empty lets
	// the system choose. An address that does not resolve fails
	// Transport.Start and NewRoundTripper, as does setting it together
	// with Transport.DialContext, which it cannot reach. The tls.Configs
	// do not use it.
	LocalAddr string

	// Registerer, if set, receives etcd_network_peer_tls_rejections_total,
	// which counts connections rejected by CRLFile and by the client SAN
	// check, by Reason. Nil counts nothing; rafthttp.Transport fills it in
	// from its own Registerer. Configs built from settings that share a
	// Registerer share the counter.
	Registerer prometheus.Registerer
}

// String summarises the file settings, for logs.
func (info TLSInfo) String() string {
	return fmt.Sprintf("cert = %s, key = %s, client-cert=%s, client-key=%s, trusted-ca = %s, client-cert-auth = %v, crl-file = %s",
		info.CertFile, info.KeyFile, info.ClientCertFile, info.ClientKeyFile,
		info.TrustedCAFile, info.ClientCertAuth, info.CRLFile)
}

// Empty reports whether neither CertFile nor KeyFile is set.
func (info TLSInfo) Empty() bool {
	return info.CertFile == "" && info.KeyFile == ""
}

// logger returns Logger, or a no-op logger when it is nil.
func (info TLSInfo) logger() *zap.Logger {
	if info.Logger == nil {
		return zap.NewNop()
	}
	return info.Logger
}

// validate checks the settings that do not involve reading files.
func (info TLSInfo) validate() error {
	if (info.CertFile == "") != (info.KeyFile == "") {
		return errNoKeyPair
	}
	if (info.ClientCertFile == "") != (info.ClientKeyFile == "") {
		return errHalfClientPair
	}
	set := 0
	for _, on := range []bool{info.AllowedCN != "", info.AllowedHostname != "",
		len(info.AllowedCNs) > 0, len(info.AllowedHostnames) > 0} {
		if on {
			set++
		}
	}
	if set > 1 {
		return errAllowedConflict
	}
	return nil
}
