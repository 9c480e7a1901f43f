//go:build linux

package rafthttp

import (
	"context"
	"errors"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/transport"
)

// userTimeoutOf reads TCP_USER_TIMEOUT from c, in milliseconds.
func userTimeoutOf(t *testing.T, c net.Conn) int {
	t.Helper()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("%T is not a *net.TCPConn", c)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ms int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		ms, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return ms
}

// TestUserTimeoutOnPeerConnections: the Transport's three round trippers
// and NewListenerWithConfig set the write timeout as TCP_USER_TIMEOUT.
func TestUserTimeoutOnPeerConnections(t *testing.T) {
	l, err := NewListenerWithConfig(url.URL{Scheme: "http", Host: "127.0.0.1:0"}, nil,
		ListenerConfig{ReadTimeout: time.Second, WriteTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tr := &Transport{ConnWriteTimeout: 2500 * time.Millisecond, Limits: Limits{SnapshotStallTimeout: 3500 * time.Millisecond}}
	cfg, err := tr.settings()
	if err != nil {
		t.Fatal(err)
	}
	stream, pipeline, snapshot, err := tr.newRoundTrippers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dials := map[string]transport.DialFunc{
		"stream": stream.DialContext, "pipeline": pipeline.DialContext, "snapshot": snapshot.DialContext,
	}
	// Snapshot connections tolerate a pause a quarter longer than the stall
	// timeout, behind the stall watch.
	want := map[string]int{"stream": 2500, "pipeline": 2500, "snapshot": 4375}
	for name, dial := range dials {
		c, err := dial(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := userTimeoutOf(t, c.(*deadlineConn).Conn); got != want[name] {
			t.Errorf("%s dial: TCP_USER_TIMEOUT %d ms, want %d", name, got, want[name])
		}
		c.Close()
		accepted, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if got := userTimeoutOf(t, accepted.(*deadlineConn).Conn); got != 1500 {
			t.Errorf("accepted: TCP_USER_TIMEOUT %d ms, want 1500", got)
		}
		accepted.Close()
	}
}

// TestUserTimeoutBlackholedReader connects to a peer that accepts and
// never reads, and writes until a write fails, with no write deadline:
// only the kernel can end it. Once the peer's window closes, the writer
// must give up within the user timeout plus an allowance for the kernel's
// probe timer; without the option it stays blocked.
func TestUserTimeoutBlackholedReader(t *testing.T) {
	const timeout = time.Second
	// The zero-window probe that notices the expiry backs off from the
	// 200 ms retransmission minimum; 1.5 s was measured here for 1 s.
	const allowance = 2 * time.Second
	t.Run("with user timeout", func(t *testing.T) {
		stalled, err := writeToBlackhole(t, timeout, timeout+allowance+5*time.Second)
		if !errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("writer ended with %v, want ETIMEDOUT from the kernel", err)
		}
		t.Logf("writer gave up %v after its last successful write (user timeout %v)", stalled, timeout)
		if stalled > timeout+allowance {
			t.Errorf("writer gave up after %v, want at most %v", stalled, timeout+allowance)
		}
	})
	t.Run("without", func(t *testing.T) {
		stalled, err := writeToBlackhole(t, 0, timeout+allowance)
		if err != errStillBlocked {
			t.Fatalf("writer without user timeout ended with %v after %v, want still blocked", err, stalled)
		}
	})
}

var errStillBlocked = errors.New("writer still blocked")

// writeToBlackhole dials a peer that never reads, with the Transport's
// dial path and user timeout d (0: none), and writes until a write fails
// or limit passes. It returns how long after the last successful write the
// writer ended, and why.
func writeToBlackhole(t *testing.T, d, limit time.Duration) (time.Duration, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial, err := defaultDialer(transport.TLSInfo{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := withUserTimeout(dial, d)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept() // and never read
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	type outcome struct {
		lastOK time.Time
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		buf := make([]byte, 64<<10)
		last := time.Now()
		for {
			if _, err := c.Write(buf); err != nil {
				done <- outcome{last, err}
				return
			}
			last = time.Now()
		}
	}()
	select {
	case o := <-done:
		return time.Since(o.lastOK), o.err
	case <-time.After(limit):
		c.Close() // unblocks the writer
		o := <-done
		return time.Since(o.lastOK), errStillBlocked
	}
}
