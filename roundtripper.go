package rafthttp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rafthttp/rafthttp/transport"
)

// dialer returns the configured dial function or a net.Dialer.
func (t *Transport) dialer() transport.DialFunc {
	if t.DialContext != nil {
		return t.DialContext
	}
	return defaultDialer(t.TLSInfo, t.DialTimeout)
}

func defaultDialer(info transport.TLSInfo, timeout time.Duration) transport.DialFunc {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if info.LocalAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(info.LocalAddr)}
	}
	return d.DialContext
}

// NewRoundTripper returns the round tripper etcd uses for pipeline and
// snapshot POSTs: keep-alive connections, TLS from tlsInfo. https URLs are
// dialled through tlsInfo.NewTLSDialer, so IP addresses need no
// ServerName and certificates are reread on every handshake.
func NewRoundTripper(tlsInfo transport.TLSInfo, dialTimeout time.Duration) (http.RoundTripper, error) {
	return newPipelineRoundTripper(tlsInfo, defaultDialer(tlsInfo, dialTimeout))
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
//   - snapshots: keep-alive, and each write may block for the snapshot
//     stall timeout; the sender's stall watch bounds the rest.
func newRoundTrippers(info transport.TLSInfo, dial transport.DialFunc, cfg settings) (stream, pipeline, snapshot *http.Transport, err error) {
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
	if snapshot, err = newPipelineRoundTripper(info, withDeadlines(dial, 0, cfg.snapshot.stallTimeout)); err != nil {
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
// IdleTimeout, or to abort a pending read) still applies: each read waits
// until the earlier of it and the per-read timeout. Otherwise a peer that
// trickles one byte per read timeout would never hit the header deadline.
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

// NewListener listens on u's host for peer traffic, with TCP keep-alive,
// per-read and per-write deadlines of DefaultConnReadTimeout and
// DefaultConnWriteTimeout, and TLS when u's scheme is https.
func NewListener(u url.URL, tlsinfo *transport.TLSInfo) (net.Listener, error) {
	return NewListenerWithTimeouts(u, tlsinfo, DefaultConnReadTimeout, DefaultConnWriteTimeout)
}

// NewListenerWithTimeouts is NewListener with explicit timeouts; zero
// disables a deadline.
func NewListenerWithTimeouts(u url.URL, tlsinfo *transport.TLSInfo, read, write time.Duration) (net.Listener, error) {
	return NewListenerWithConfig(u, tlsinfo, ListenerConfig{ReadTimeout: read, WriteTimeout: write})
}

// ListenerConfig configures NewListenerWithConfig. Zero fields disable
// what they bound.
type ListenerConfig struct {
	// ReadTimeout and WriteTimeout bound each read and write on an
	// accepted connection (NewListener: DefaultConnReadTimeout and
	// DefaultConnWriteTimeout).
	ReadTimeout, WriteTimeout time.Duration
	// MaxConnsPerHost caps the connections open at once from one remote
	// IP address; those beyond it are closed as soon as they are accepted,
	// before any TLS handshake. A healthy etcd or rafthttp peer holds
	// about ten (two streams, up to four pipeline workers, a snapshot,
	// probes), more when members share an address, so leave room: 64 or
	// more. NewListener: no cap, as in etcd.
	MaxConnsPerHost int
}

// NewListenerWithConfig listens on u's host for peer traffic with TCP
// keep-alive, the bounds in cfg, and TLS when u's scheme is https.
func NewListenerWithConfig(u url.URL, tlsinfo *transport.TLSInfo, cfg ListenerConfig) (net.Listener, error) {
	var tlsCfg *tls.Config
	if u.Scheme == "https" {
		if tlsinfo == nil || tlsinfo.Empty() {
			return nil, errors.New("rafthttp: https listener needs a certificate and key")
		}
		var err error
		if tlsCfg, err = tlsinfo.ServerConfig(); err != nil {
			return nil, err
		}
	}
	lc := net.ListenConfig{KeepAlive: 30 * time.Second}
	l, err := lc.Listen(context.Background(), "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	l = limitConnsPerHost(l, cfg.MaxConnsPerHost)
	l = &deadlineListener{Listener: l, readTimeout: cfg.ReadTimeout, writeTimeout: cfg.WriteTimeout}
	if tlsCfg == nil {
		return l, nil
	}
	return tls.NewListener(l, tlsCfg), nil
}

// deadlineListener hands out deadlineConns.
type deadlineListener struct {
	net.Listener
	readTimeout, writeTimeout time.Duration
}

func (l *deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, readTimeout: l.readTimeout, writeTimeout: l.writeTimeout}, nil
}

// Settings of the peer *http.Server built by NewServer.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers, so a
	// peer that trickles them cannot hold a connection.
	DefaultReadHeaderTimeout = DefaultConnReadTimeout
	// DefaultIdleTimeout closes keep-alive connections idle this long.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes caps a request's headers; the protocol's are a
	// few hundred bytes.
	DefaultMaxHeaderBytes = 64 << 10
)

// NewServer returns an *http.Server for the peer listener that serves h
// with ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes set to the
// defaults above. It sets no ReadTimeout or WriteTimeout: streams live for
// hours and a snapshot body may take minutes; NewListener's per-read and
// per-write deadlines bound stalls instead, and Transport.Limits bounds
// sizes and concurrent snapshots. Change the fields before serving if
// needed. etcd builds its peer server with a five-minute ReadTimeout and
// no header or idle timeout.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
	}
}

// limitConnsPerHost returns a listener that accepts at most n concurrent
// connections from each remote IP address; n <= 0 returns l unchanged.
func limitConnsPerHost(l net.Listener, n int) net.Listener {
	if n <= 0 {
		return l
	}
	return &hostLimitListener{Listener: l, max: n, open: make(map[string]int)}
}

// hostLimitListener counts open connections per remote IP.
type hostLimitListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int // guarded by mu
}

// Accept returns the next connection whose host is under the limit.
func (l *hostLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := remoteHost(c)
		if l.acquire(host) {
			return &hostLimitConn{Conn: c, release: func() { l.release(host) }}, nil
		}
		c.Close()
	}
}

func (l *hostLimitListener) acquire(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host] >= l.max {
		return false
	}
	l.open[host]++
	return true
}

func (l *hostLimitListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

// remoteHost is c's remote IP address, or its whole address if it has no
// port.
func remoteHost(c net.Conn) string {
	addr := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// hostLimitConn gives its slot back when first closed.
type hostLimitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *hostLimitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
