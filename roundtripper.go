package rafthttp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/rafthttp/rafthttp/transport"
)

// dialFunc opens a connection to a peer.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// dialer returns the configured dial function or a net.Dialer.
func (t *Transport) dialer() dialFunc {
	if t.DialContext != nil {
		return t.DialContext
	}
	return defaultDialer(t.TLSInfo, t.DialTimeout)
}

func defaultDialer(info transport.TLSInfo, timeout time.Duration) dialFunc {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if info.LocalAddr != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(info.LocalAddr)}
	}
	return d.DialContext
}

// NewRoundTripper returns the round tripper etcd uses for pipeline and
// snapshot POSTs: keep-alive connections, TLS from tlsInfo.
func NewRoundTripper(tlsInfo transport.TLSInfo, dialTimeout time.Duration) (http.RoundTripper, error) {
	return newPipelineRoundTripper(tlsInfo, defaultDialer(tlsInfo, dialTimeout))
}

func newPipelineRoundTripper(info transport.TLSInfo, dial dialFunc) (*http.Transport, error) {
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
//   - snapshots: keep-alive and write deadlines only; the receiver may take
//     long to store a large DB before it answers.
func newRoundTrippers(info transport.TLSInfo, dial dialFunc, cfg settings) (stream, pipeline, snapshot *http.Transport, err error) {
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
	if snapshot, err = newPipelineRoundTripper(info, withDeadlines(dial, 0, cfg.writeTimeout)); err != nil {
		return nil, nil, nil, err
	}
	return stream, pipeline, snapshot, nil
}

// withDeadlines wraps every connection dial opens in a deadlineConn.
func withDeadlines(dial dialFunc, read, write time.Duration) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &deadlineConn{Conn: c, readTimeout: read, writeTimeout: write}, nil
	}
}

func newHTTPTransport(info transport.TLSInfo, dial dialFunc) (*http.Transport, error) {
	var cfg *tls.Config
	if wantsTLSConfig(info) {
		var err error
		if cfg, err = info.ClientConfig(); err != nil {
			return nil, err
		}
	}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dial,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     cfg,
	}, nil
}

// wantsTLSConfig reports whether info says anything about TLS; otherwise
// https URLs use Go's defaults.
func wantsTLSConfig(info transport.TLSInfo) bool {
	return !info.Empty() || info.TrustedCAFile != "" || info.InsecureSkipVerify || info.ServerName != ""
}

// deadlineConn sets a deadline before every read and write, so a peer
// that stops reading or writing cannot hold a goroutine forever.
type deadlineConn struct {
	net.Conn
	readTimeout  time.Duration
	writeTimeout time.Duration
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	if c.readTimeout > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(b)
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
	lc := net.ListenConfig{KeepAlive: 30 * time.Second}
	l, err := lc.Listen(context.Background(), "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	l = &deadlineListener{Listener: l, readTimeout: read, writeTimeout: write}
	if u.Scheme != "https" {
		return l, nil
	}
	if tlsinfo == nil || tlsinfo.Empty() {
		l.Close()
		return nil, errors.New("rafthttp: https listener needs a certificate and key")
	}
	cfg, err := tlsinfo.ServerConfig()
	if err != nil {
		l.Close()
		return nil, err
	}
	return tls.NewListener(l, cfg), nil
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
