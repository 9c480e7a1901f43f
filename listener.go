package rafthttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/rafthttp/rafthttp/transport"
)

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
	// DefaultConnWriteTimeout). On Linux, WriteTimeout is also the
	// connection's TCP_USER_TIMEOUT, so data the peer leaves
	// unacknowledged that long ends the connection even between writes.
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
//
// TLS works as etcd's peer listener (see transport.TLSInfo.WrapListener):
// handshakes complete before Accept returns, with a failed one passed to
// tlsinfo.HandshakeFailure and logged, rate-limited, to tlsinfo.Logger;
// a client certificate must match the address it connects from unless
// tlsinfo.SkipClientSANVerify; tlsinfo.CRLFile rejects revoked ones.
func NewListenerWithConfig(u url.URL, tlsinfo *transport.TLSInfo, cfg ListenerConfig) (net.Listener, error) {
	if u.Scheme == "https" && (tlsinfo == nil || tlsinfo.Empty()) {
		return nil, errors.New("rafthttp: https listener needs a certificate and key")
	}
	lc := net.ListenConfig{KeepAlive: 30 * time.Second}
	l, err := lc.Listen(context.Background(), "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	l = &userTimeoutListener{Listener: l, timeout: cfg.WriteTimeout}
	l = limitConnsPerHost(l, cfg.MaxConnsPerHost)
	l = &deadlineListener{Listener: l, readTimeout: cfg.ReadTimeout, writeTimeout: cfg.WriteTimeout}
	if u.Scheme != "https" {
		return l, nil
	}
	tl, err := tlsinfo.WrapListener(l)
	if err != nil {
		l.Close()
		return nil, err
	}
	return tl, nil
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
