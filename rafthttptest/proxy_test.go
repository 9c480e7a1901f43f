package rafthttptest

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// proxiedPair starts a Proxy in front of a fresh listener and returns it
// with both ends of one connection through it: the client's, and the
// server's as accepted from the real listener.
func proxiedPair(t *testing.T) (p *Proxy, client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if p, err = NewProxy(ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	client, server = dialThrough(t, p, ln)
	return p, client, server
}

// dialThrough connects a client through p to ln and returns both ends.
func dialThrough(t *testing.T, p *Proxy, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// eachDirection runs f in a subtest per direction of a fresh connection
// through a Proxy, with that direction's faults, writer and reader.
func eachDirection(t *testing.T, f func(t *testing.T, d *Direction, w, r net.Conn)) {
	for _, toServer := range []bool{true, false} {
		name := map[bool]string{true: "to-server", false: "to-client"}[toServer]
		t.Run(name, func(t *testing.T) {
			p, client, server := proxiedPair(t)
			if toServer {
				f(t, p.ToServer(), client, server)
			} else {
				f(t, p.ToClient(), server, client)
			}
		})
	}
}

func TestProxyForwardsBothWays(t *testing.T) {
	_, client, server := proxiedPair(t)
	up, down := pattern(300_000, 10), pattern(200_000, 11)
	writeAsync(t, client, up)
	writeAsync(t, server, down)
	if got := readN(t, server, len(up)); !bytes.Equal(got, up) {
		t.Fatal("server got altered bytes")
	}
	if got := readN(t, client, len(down)); !bytes.Equal(got, down) {
		t.Fatal("client got altered bytes")
	}
	// An orderly close reaches the other side as one.
	if err := client.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, server); len(got) != 0 || err != io.EOF {
		t.Fatalf("server read %d bytes, then %v after the client's close; want EOF", len(got), err)
	}
}

// A cut through the proxy writes at most n bytes, all of them the right
// ones, to the receiving side and then resets both sides. (The receiver's
// kernel may drop bytes it had not handed over when the reset arrived, so
// only "at most" is certain there; the faultConn tests prove exactly n.)
func TestProxyCutAfter(t *testing.T) {
	eachDirection(t, func(t *testing.T, d *Direction, w, r net.Conn) {
		const n = 30_000
		cut := d.CutAfter(n)
		data := sendPattern(t, w, 100_000, 12)
		got, err := readAll(t, r)
		if len(got) > n || !bytes.HasPrefix(data, got) || !isReset(err) {
			t.Fatalf("receiver got %d bytes (a prefix: %v), then %v; want at most %d, then a reset",
				len(got), bytes.HasPrefix(data, got), err, n)
		}
		waitClosed(t, cut, "the cut's channel")
		if _, err := readAll(t, w); !isReset(err) {
			t.Fatalf("sender read %v after the cut, want a reset", err)
		}
		t.Logf("receiver read %d of the %d bytes let through", len(got), n)
	})
}

// A cut is spent once it fired: the next connection carries everything.
func TestProxyCutIsOneShot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, err := NewProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cut := p.ToServer().CutAfter(1000)
	client, server := dialThrough(t, p, ln)
	data := sendPattern(t, client, 50_000, 13)
	if _, err := readAll(t, server); !isReset(err) {
		t.Fatalf("first connection ended with %v, want a reset", err)
	}
	waitClosed(t, cut, "the cut's channel")
	client, server = dialThrough(t, p, ln)
	writeAsync(t, client, data)
	if got := readN(t, server, len(data)); !bytes.Equal(got, data) {
		t.Fatal("second connection's bytes altered")
	}
}

func TestProxyFlipByte(t *testing.T) {
	eachDirection(t, func(t *testing.T, d *Direction, w, r net.Conn) {
		const offset = 12_345
		flipped := d.FlipByte(offset)
		data := sendPattern(t, w, 100_000, 14)
		got := readN(t, r, len(data))
		if diff := differences(got, data); len(diff) != 1 || diff[0] != offset || got[offset] != ^data[offset] {
			t.Fatalf("bytes differing: %v (want only %d, inverted)", diff, offset)
		}
		waitClosed(t, flipped, "the flip's channel")
	})
}

func TestProxyStall(t *testing.T) {
	eachDirection(t, func(t *testing.T, d *Direction, w, r net.Conn) {
		const stall = 300 * time.Millisecond
		called := time.Now()
		d.Stall(stall)
		data := sendPattern(t, w, 100_000, 15)
		if got := readN(t, r, len(data)); !bytes.Equal(got, data) {
			t.Fatal("stalled bytes altered")
		}
		if took := time.Since(called); took < stall {
			t.Fatalf("bytes arrived %v into a %v stall", took, stall)
		}
	})
}

// Latency and bandwidth apply per direction: the other direction is not
// slowed.
func TestProxyLatencyAndBandwidth(t *testing.T) {
	p, client, server := proxiedPair(t)
	const latency = 200 * time.Millisecond
	p.ToServer().SetLatency(latency)
	// 64 KiB/s: 128 KiB need two seconds.
	p.ToClient().SetBandwidth(64 << 10)
	start := time.Now()
	writeAsync(t, client, []byte("ping"))
	readN(t, server, 4)
	if took := time.Since(start); took < latency {
		t.Fatalf("a byte crossed a %v link in %v", latency, took)
	}
	start = time.Now()
	writeAsync(t, server, pattern(128<<10, 16))
	readN(t, client, 128<<10)
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("128 KiB crossed a 64 KiB/s link in %v", took)
	}
	p.ToClient().Heal()
	start = time.Now()
	writeAsync(t, server, pattern(1<<20, 17))
	readN(t, client, 1<<20)
	t.Logf("1 MiB after Heal took %v", time.Since(start))
}

func TestProxyReset(t *testing.T) {
	p, client, server := proxiedPair(t)
	p.Reset()
	if _, err := readAll(t, client); !isReset(err) {
		t.Fatalf("client read %v after Reset, want a reset", err)
	}
	if _, err := readAll(t, server); !isReset(err) {
		t.Fatalf("server read %v after Reset, want a reset", err)
	}
}

// Close ends live connections and stops every goroutine (goleak checks
// the latter when the package's tests end); it is idempotent.
func TestProxyClose(t *testing.T) {
	p, client, _ := proxiedPair(t)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, client); err == nil {
		t.Fatal("client's connection survived Close")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Fatal("Proxy accepts after Close")
	}
}

// A client whose server cannot be reached is reset.
func TestProxyUnreachableTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The reset may come before the dial has returned.
	client, err := net.Dial("tcp", p.Addr())
	if err == nil {
		defer client.Close()
		_, err = readAll(t, client)
	}
	if !isReset(err) {
		t.Fatalf("client read %v, want the connection refused by a reset", err)
	}
}
