package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/time/rate"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

// served is a WrapListener on loopback whose accepted connections write
// "ok" and close, with every HandshakeFailure call and log line recorded.
type served struct {
	addr     string
	reg      *prometheus.Registry
	logs     *observer.ObservedLogs
	mu       sync.Mutex
	failures []error // guarded by mu
	// failed is signalled after each failure is recorded.
	failed   chan struct{}
	accepted chan *tls.Conn
}

// serve wraps a loopback listener with info, plus recording hooks.
func serve(t *testing.T, info TLSInfo) *served {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	s := &served{reg: prometheus.NewRegistry(), logs: logs, failed: make(chan struct{}, 1),
		accepted: make(chan *tls.Conn, 64)}
	info.Logger, info.Registerer = zap.New(core), s.reg
	info.HandshakeFailure = func(c *tls.Conn, err error) {
		s.mu.Lock()
		s.failures = append(s.failures, err)
		s.mu.Unlock()
		select {
		case s.failed <- struct{}{}:
		default: // a signal is pending already
		}
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := info.WrapListener(inner)
	if err != nil {
		inner.Close()
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if !tc.ConnectionState().HandshakeComplete {
				t.Error("Accept returned a connection before its handshake")
			}
			s.accepted <- tc // before "ok", so a client that read it was counted
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	})
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
	})
	return s
}

// failuresSeen returns the HandshakeFailure errors so far.
func (s *served) failuresSeen() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.failures...)
}

// dialFrom connects to s from the local IP from (empty: any) with cfg and
// reads the server's "ok"; it returns the first error.
func (s *served) dialFrom(t *testing.T, from string, cfg *tls.Config) error {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	raw, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, 2))
	return err
}

// waitFailures waits until n HandshakeFailure calls were seen, or 10 s
// passed, and returns them. The listener logs a failure before it calls
// HandshakeFailure, so the log lines of those returned are written.
func (s *served) waitFailures(t *testing.T, n int) []error {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		got := s.failuresSeen()
		if len(got) >= n {
			return got
		}
		select {
		case <-s.failed:
		case <-timeout.C:
			return got
		}
	}
}

// TestWrapListenerHandshakeFailure: every kind of bad handshake reaches
// HandshakeFailure and the log, with its remote address, and is never
// accepted; a good client still is.
func TestWrapListenerHandshakeFailure(t *testing.T) {
	e := newEnv(t)
	e.clientSpec.IPs = []net.IP{net.IPv4(127, 0, 0, 1)} // passes the SAN check
	e.build(t)
	s := serve(t, e.server)
	_, clientCfg := e.configs(t)

	stranger := e.client
	stranger.CertFile, stranger.KeyFile = e.other.Issue(t, "stranger", testpki.Leaf{CN: "client"})
	strangerCfg, err := stranger.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.dialFrom(t, "", strangerCfg); err == nil {
		t.Error("client from an unknown CA was served")
	}
	plain, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = plain.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_, _ = io.Copy(io.Discard, plain) // the server closes it
	plain.Close()

	got := s.waitFailures(t, 2)
	if len(got) != 2 {
		t.Fatalf("HandshakeFailure saw %v, want 2 failures", got)
	}
	var unknown x509.UnknownAuthorityError
	if !errors.As(got[0], &unknown) {
		t.Errorf("first failure %v, want an unknown authority", got[0])
	}
	warns := s.logs.FilterMessage("rejected connection on peer listener").FilterLevelExact(zap.WarnLevel).All()
	if len(warns) != 2 {
		t.Fatalf("%d warnings logged, want 2: %v", len(warns), warns)
	}
	for _, w := range warns {
		if addr, _ := w.ContextMap()["remote-addr"].(string); addr == "" {
			t.Errorf("log line without remote-addr: %v", w.ContextMap())
		}
	}
	if err := s.dialFrom(t, "", clientCfg); err != nil {
		t.Fatalf("good client after failures: %v", err)
	}
	if len(s.accepted) != 1 {
		t.Errorf("%d connections accepted, want only the good one", len(s.accepted))
	}
}

// TestWrapListenerClientSAN dials from 127.0.0.1 and 127.0.0.2 (the whole
// of 127/8 is loopback on Linux) with client certificates naming one or
// the other, with and without SkipClientSANVerify.
func TestWrapListenerClientSAN(t *testing.T) {
	ip1, ip2 := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)
	tests := []struct {
		name     string
		from     string
		ips      []net.IP
		skip     bool
		noAuth   bool
		wantFail bool
	}{
		{name: "IP SAN matches source", from: "127.0.0.1", ips: []net.IP{ip1}},
		{name: "second IP SAN matches source", from: "127.0.0.2", ips: []net.IP{ip1, ip2}},
		{name: "IP SAN differs from source", from: "127.0.0.2", ips: []net.IP{ip1}, wantFail: true},
		{name: "IP SAN differs, check skipped", from: "127.0.0.2", ips: []net.IP{ip1}, skip: true},
		{name: "no SANs, nothing to check", from: "127.0.0.2"},
		{name: "no client auth, no check", from: "127.0.0.2", ips: []net.IP{ip1}, noAuth: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.clientSpec = testpki.Leaf{CN: "client", IPs: tt.ips}
			e.build(t)
			e.server.SkipClientSANVerify = tt.skip
			if tt.noAuth {
				e.server.ClientCertAuth, e.server.TrustedCAFile = false, ""
			}
			s := serve(t, e.server)
			_, clientCfg := e.configs(t)
			err := s.dialFrom(t, tt.from, clientCfg)
			if !tt.wantFail {
				if err != nil {
					t.Fatalf("rejected: %v (server saw %v)", err, s.failuresSeen())
				}
				return
			}
			if err == nil {
				t.Fatal("a client whose SANs do not match its address was served")
			}
			got := s.waitFailures(t, 1)
			if len(got) != 1 || !errors.Is(got[0], ErrClientSANMismatch) {
				t.Fatalf("HandshakeFailure saw %v, want ErrClientSANMismatch", got)
			}
			if n := rejections(t, s.reg, reasonClientSAN); n != 1 {
				t.Errorf("rejections{Reason=%q} = %v, want 1", reasonClientSAN, n)
			}
		})
	}
}

// TestWrapListenerCloseAbortsHandshakes: a client that connects and says
// nothing does not hold Close up (goleak then checks nothing is left).
func TestWrapListenerCloseAbortsHandshakes(t *testing.T) {
	e := newEnv(t)
	e.build(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raw := &signalListener{Listener: inner, accepted: make(chan struct{}, 1)}
	ln, err := e.server.WrapListener(raw)
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	<-raw.accepted // its handshake is now pending
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	start := time.Now()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if d := time.Since(start); d > DefaultHandshakeTimeout/2 {
		t.Errorf("Close took %v with a silent client", d)
	}
}

// signalListener signals on accepted each time Accept returns a conn.
type signalListener struct {
	net.Listener
	accepted chan struct{}
}

func (l *signalListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

// TestFailureLogRateLimited drives the limiter directly: past the burst,
// lines are dropped and the next line written says how many.
func TestFailureLogRateLimited(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	f := newFailureLog(zap.New(core))
	f.limit = rate.NewLimiter(rate.Every(time.Hour), 2)
	sc, cc := tcpPair(t)
	defer sc.Close()
	defer cc.Close()
	conn := tls.Server(sc, &tls.Config{})
	for range 5 {
		f.log(conn, errors.New("bad certificate"))
	}
	f.log(conn, io.EOF) // a silent client: Debug, not counted
	if n := logs.FilterLevelExact(zap.WarnLevel).Len(); n != 2 {
		t.Fatalf("%d warnings after 5 failures with a burst of 2", n)
	}
	if n := logs.FilterLevelExact(zap.DebugLevel).Len(); n != 1 {
		t.Errorf("EOF logged %d times at Debug, want 1", n)
	}
	f.limit.SetLimit(rate.Inf)
	f.log(conn, errors.New("bad certificate"))
	last := logs.All()[logs.Len()-1].ContextMap()
	if got := last["suppressed-since-last"]; got != uint64(3) {
		t.Errorf("suppressed-since-last = %v, want 3", got)
	}
}

// flakyListener fails its first Accept with a temporary error, then hands
// out conns until closed.
type flakyListener struct {
	net.Listener
	failed bool
}

type tempErr struct{}

func (tempErr) Error() string   { return "too many open files" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

// TestWrapListenerSurvivesTemporaryErrors: a temporary Accept error (out
// of file descriptors) pauses the listener instead of ending it.
func TestWrapListenerSurvivesTemporaryErrors(t *testing.T) {
	e := newEnv(t)
	e.clientSpec.IPs = []net.IP{net.IPv4(127, 0, 0, 1)}
	e.build(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := e.server.WrapListener(&flakyListener{Listener: inner})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, clientCfg := e.configs(t)
	dialed := make(chan error, 1)
	go func() {
		c, err := tls.Dial("tcp", ln.Addr().String(), clientCfg)
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept after a temporary error: %v", err)
	}
	c.Close()
	if err := <-dialed; err != nil {
		t.Fatal(err)
	}
}
