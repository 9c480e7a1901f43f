package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"time"
)

// WrapListener returns a listener that serves TLS with ServerConfig on the
// connections inner accepts, as etcd's peer listener does: each handshake
// runs in its own goroutine, bounded by DefaultHandshakeTimeout, so a slow
// client holds up no other, and Accept returns only connections whose
// handshake completed, as *tls.Conn (so http.Server still fills in
// Request.TLS). With client authentication on and SkipClientSANVerify off,
// the client certificate must then match the connection's source address
// (ErrClientSANMismatch; see checkClientSAN for the rule, which is etcd's).
//
// A connection that fails is passed to HandshakeFailure, logged to Logger
// with its remote address and the reason (at most about one line a second
// after a burst of ten, per listener, so a scanner cannot flood the log),
// counted in Registerer if a check of this package rejected it, and
// closed. Close stops accepting, aborts pending handshakes, waits for them
// and closes inner. On error, inner is left open.
func (info TLSInfo) WrapListener(inner net.Listener) (net.Listener, error) {
	cfg, err := info.ServerConfig()
	if err != nil {
		return nil, err
	}
	metrics, err := newTLSMetrics(info.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &tlsListener{
		inner:     inner,
		cfg:       cfg,
		checkSAN:  cfg.ClientAuth != tls.NoClientCert && !info.SkipClientSANVerify,
		resolver:  net.DefaultResolver,
		onFailure: info.HandshakeFailure,
		failures:  newFailureLog(info.logger()),
		metrics:   metrics,
		ready:     make(chan *tls.Conn),
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
	}
	l.loop.Go(l.acceptLoop)
	return l, nil
}

// tlsListener is the listener WrapListener returns.
type tlsListener struct {
	// Immutable:
	inner     net.Listener
	cfg       *tls.Config
	checkSAN  bool
	resolver  hostResolver
	onFailure func(*tls.Conn, error) // nil: none
	failures  *failureLog
	metrics   *tlsMetrics

	// ready hands handshaken connections to Accept.
	ready chan *tls.Conn
	// ctx ends pending handshakes and hand-overs; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	// loop runs acceptLoop; handshakes runs one goroutine per handshake.
	loop, handshakes sync.WaitGroup
	// done is closed once acceptLoop has stopped and every handshake
	// goroutine has returned; err, written before, says why it stopped.
	done chan struct{}
	err  error
}

// Accept returns the next connection whose handshake and checks passed.
func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close stops the listener and waits for its goroutines.
func (l *tlsListener) Close() error {
	l.cancel()
	err := l.inner.Close()
	l.loop.Wait()
	return err
}

// Addr is the inner listener's address.
func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

// acceptLoop accepts raw connections and starts a handshake for each until
// inner fails for good. Temporary errors (out of file descriptors) are
// retried after a growing pause, as http.Server does, instead of ending the
// listener.
func (l *tlsListener) acceptLoop() {
	defer close(l.done)
	defer l.handshakes.Wait()
	defer l.cancel()
	var pause time.Duration
	for {
		raw, err := l.inner.Accept()
		if err == nil {
			pause = 0
			l.handshakes.Go(func() { l.handshake(raw) })
			continue
		}
		var temp interface{ Temporary() bool }
		if !errors.As(err, &temp) || !temp.Temporary() || l.ctx.Err() != nil {
			l.err = err
			return
		}
		pause = min(max(2*pause, 5*time.Millisecond), time.Second)
		if !l.sleep(pause) {
			l.err = net.ErrClosed
			return
		}
	}
}

// sleep waits for d unless the listener is closed first.
func (l *tlsListener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.ctx.Done():
		return false
	}
}

// handshake completes raw's handshake and checks, then hands it to Accept.
func (l *tlsListener) handshake(raw net.Conn) {
	conn := tls.Server(raw, l.cfg)
	ctx, cancel := context.WithTimeout(l.ctx, DefaultHandshakeTimeout)
	defer cancel()
	err := conn.HandshakeContext(ctx)
	if err == nil && l.checkSAN {
		err = l.verifySAN(ctx, conn)
	}
	if err != nil {
		if l.ctx.Err() == nil { // not a handshake cut short by Close
			l.fail(conn, err)
		}
		conn.Close()
		return
	}
	select {
	case l.ready <- conn:
	case <-l.ctx.Done():
		conn.Close()
	}
}

// verifySAN checks the client certificate against the source address.
func (l *tlsListener) verifySAN(ctx context.Context, conn *tls.Conn) error {
	certs := conn.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil
	}
	err := checkClientSAN(ctx, l.resolver, certs[0], conn.RemoteAddr())
	if err != nil {
		l.metrics.reject(reasonClientSAN)
	}
	return err
}

// fail reports a connection that will be closed: to the log first, so
// that once HandshakeFailure has seen a failure its log line is written.
func (l *tlsListener) fail(conn *tls.Conn, err error) {
	l.failures.log(conn, err)
	if l.onFailure != nil {
		l.onFailure(conn, err)
	}
}

// peerLeaf returns the client's certificate, or nil.
func peerLeaf(conn *tls.Conn) *x509.Certificate {
	if certs := conn.ConnectionState().PeerCertificates; len(certs) > 0 {
		return certs[0]
	}
	return nil
}
