package rafthttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rafthttp/rafthttp/transport"
)

// errLocalAddrWithDialContext: a custom dialer chooses its own source
// address, so TLSInfo.LocalAddr would silently do nothing.
var errLocalAddrWithDialContext = errors.New("rafthttp: TLSInfo.LocalAddr cannot apply to a custom DialContext; set one or the other")

// dialer returns the configured dial function or a net.Dialer.
func (t *Transport) dialer() (transport.DialFunc, error) {
	if t.DialContext == nil {
		return defaultDialer(t.TLSInfo, t.DialTimeout)
	}
	if t.TLSInfo.LocalAddr != "" {
		return nil, errLocalAddrWithDialContext
	}
	return t.DialContext, nil
}

// defaultDialer is a net.Dialer with etcd's keep-alive that connects from
// info.LocalAddr when it is set (resolved once, now, as etcd does).
func defaultDialer(info transport.TLSInfo, timeout time.Duration) (transport.DialFunc, error) {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if info.LocalAddr != "" {
		addr, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(info.LocalAddr, "0"))
		if err != nil {
			return nil, fmt.Errorf("rafthttp: TLSInfo.LocalAddr: %w", err)
		}
		d.LocalAddr = addr
	}
	return d.DialContext, nil
}

// NewRoundTripper returns the round tripper etcd uses for pipeline and
// snapshot POSTs: keep-alive connections, TLS from tlsInfo. https URLs are
// dialled through tlsInfo.NewTLSDialer, so IP addresses need no
// ServerName and certificates are reread on every handshake.
func NewRoundTripper(tlsInfo transport.TLSInfo, dialTimeout time.Duration) (http.RoundTripper, error) {
	dial, err := defaultDialer(tlsInfo, dialTimeout)
	if err != nil {
		return nil, err
	}
	return newPipelineRoundTripper(tlsInfo, dial)
}

func newPipelineRoundTripper(info transport.TLSInfo, dial transport.DialFunc) (*http.Transport, error) {
	rt, err := newHTTPTransport(info, dial)
	if err != nil {
		return nil, err
	}
	rt.MaxIdleConnsPerHost = 1024
	return rt, nil
}

// newRoundTrippers builds the Transport's three round trippers:
//   - streams: never reused, a deadline on every read and write, so a peer
//     that goes silent for longer than the read timeout (it owes us a
//     heartbeat every third of it) is given up on even if TCP looks alive.
//     etcd means to do this, but its deadlines are never installed.
//   - pipeline: keep-alive, write deadlines, and the reply must start within
//     the read timeout, so a half-open peer cannot hold a worker forever.
//   - snapshots: keep-alive, and each write may block for a quarter more
//     than the snapshot stall timeout: a backstop, so that the sender's
//     stall watch, which bounds the rest, is what ends a transfer that
//     stops moving, and reports it as stalled.
//
// Stream and pipeline connections bound unacknowledged data by the write
// timeout in the kernel too (withUserTimeout); snapshot connections by the
// same backstop, so a link that pauses for less than the stall timeout
// keeps its transfer. All count TLS rejections on the Transport's Registerer
// unless TLSInfo names its own.
func (t *Transport) newRoundTrippers(cfg settings) (stream, pipeline, snapshot *http.Transport, err error) {
	base, err := t.dialer()
	if err != nil {
		return nil, nil, nil, err
	}
	dial := withUserTimeout(base, cfg.writeTimeout)
	info := t.TLSInfo
	if info.Registerer == nil {
		info.Registerer = t.Registerer
	}
	if stream, err = newHTTPTransport(info, withDeadlines(dial, cfg.readTimeout, cfg.writeTimeout)); err != nil {
		return nil, nil, nil, err
	}
	// A negative limit keeps no idle connections, without the
	// "Connection: close" header that DisableKeepAlives would add.
	stream.MaxIdleConnsPerHost = -1
	// Large reads amortise the per-read deadline over many messages.
	stream.ReadBufferSize = 64 << 10
	if pipeline, err = newPipelineRoundTripper(info, withDeadlines(dial, 0, cfg.writeTimeout)); err != nil {
		return nil, nil, nil, err
	}
	pipeline.ResponseHeaderTimeout = cfg.readTimeout
	backstop := cfg.snapshot.stallTimeout + cfg.snapshot.stallTimeout/4
	if snapshot, err = newPipelineRoundTripper(info, withDeadlines(withUserTimeout(base, backstop), 0, backstop)); err != nil {
		return nil, nil, nil, err
	}
	return stream, pipeline, snapshot, nil
}

// withDeadlines wraps every connection dial opens in a deadlineConn.
func withDeadlines(dial transport.DialFunc, read, write time.Duration) transport.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &deadlineConn{Conn: c, readTimeout: read, writeTimeout: write}, nil
	}
}

// newHTTPTransport returns an http.Transport that dials with dial. With TLS
// settings, https connections go through info.NewTLSDialer, which checks
// the server certificate against the dialled host even when it is an IP
// address and rereads certificates on every handshake; TLSClientConfig is
// still set for https through a proxy, where Go makes the handshake.
func newHTTPTransport(info transport.TLSInfo, dial transport.DialFunc) (*http.Transport, error) {
	rt := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dial,
		TLSHandshakeTimeout: transport.DefaultHandshakeTimeout,
	}
	if !wantsTLSConfig(info) {
		return rt, nil
	}
	var err error
	if rt.TLSClientConfig, err = info.ClientConfig(); err != nil {
		return nil, err
	}
	if rt.DialTLSContext, err = info.NewTLSDialer(dial); err != nil {
		return nil, err
	}
	return rt, nil
}

// wantsTLSConfig reports whether info says anything about TLS; otherwise
// https URLs use Go's defaults.
func wantsTLSConfig(info transport.TLSInfo) bool {
	return !info.Empty() || info.TrustedCAFile != "" || info.InsecureSkipVerify || info.ServerName != ""
}

// deadlineConn sets a deadline before every read and write, so a peer
// that stops reading or writing cannot hold a goroutine forever.
//
// A read deadline set explicitly (by http.Server's ReadHeaderTimeout and
// IdleTimeout, by a handler, or to abort a pending read) replaces the
// per-read timeout until the zero time clears it: reads then wait for it
// alone. Re-arming the per-read timeout on every read instead would let a
// peer that trickles one byte per read timeout push the header deadline
// back forever.
type deadlineConn struct {
	net.Conn
	readTimeout  time.Duration
	writeTimeout time.Duration

	mu           sync.Mutex
	readDeadline time.Time // set through SetReadDeadline/SetDeadline
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if c.readTimeout > 0 {
		if err := c.armRead(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
}

// armRead installs the deadline for the next read: the one set through
// SetReadDeadline if any, else the per-read timeout. The lock orders it
// with SetReadDeadline, so an abort is never overwritten by a later time.
func (c *deadlineConn) armRead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readDeadline.IsZero() {
		return nil // already installed by SetReadDeadline
	}
	return c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout))
}

// SetReadDeadline sets a deadline that replaces the per-read timeout until
// the zero time restores it. http.Server uses it for its header, read and
// idle timeouts, and the stream handler to keep an idle stream open.
func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines; reads honour it as SetReadDeadline's.
func (c *deadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineConn) Write(b []byte) (int, error) {
	if c.writeTimeout > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(b)
}
