package rafthttp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// stFaults cuts the snapshot POSTs leaving a Transport, on its
// connections, and counts them: what rafthttptest's public faults (which
// the proofs in snapshot_public_test.go use) do not tell, as whether an
// attempt sent a POST at all. Each POST takes the next cut: the
// connection is cut after that many bytes. A POST beyond the cuts goes
// through untouched.
type stFaults struct {
	mu    sync.Mutex
	cuts  []int64
	wire  int64 // bytes of snapshot POSTs written, headers included
	posts int
}

// dial wraps every connection the Transport opens.
func (f *stFaults) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &stFaultConn{Conn: c, f: f}, nil
}

// next returns where to cut a new snapshot POST, or -1.
func (f *stFaults) next() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts++
	cut := int64(-1)
	if len(f.cuts) > 0 {
		cut, f.cuts = f.cuts[0], f.cuts[1:]
	}
	return cut
}

func (f *stFaults) wrote(n int) {
	f.mu.Lock()
	f.wire += int64(n)
	f.mu.Unlock()
}

func (f *stFaults) stats() (wire int64, posts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wire, f.posts
}

// stFaultConn applies a cut from the POST line on; each connection
// carries one request at a time.
type stFaultConn struct {
	net.Conn
	f       *stFaults
	snap    bool
	written int64
	cut     int64
}

var stSnapPostLine = []byte("POST " + RaftSnapshotPrefix + " HTTP/1.1")

func (c *stFaultConn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("POST ")) || bytes.HasPrefix(b, []byte("GET ")) {
		c.snap = bytes.HasPrefix(b, stSnapPostLine)
		c.written = 0
		if c.snap {
			c.cut = c.f.next()
		}
	}
	if !c.snap {
		return c.Conn.Write(b)
	}
	if c.cut >= 0 && c.written+int64(len(b)) > c.cut {
		n, _ := c.Conn.Write(b[:c.cut-c.written])
		c.f.wrote(n)
		c.Conn.Close()
		return n, net.ErrClosed
	}
	n, err := c.Conn.Write(b)
	c.written += int64(n)
	c.f.wrote(n)
	return n, err
}

// stPair starts sender 1 dialling through faults and receiver 2 storing
// snapshots in dir; sender and receiver, if not nil, adjust them.
func stPair(t *testing.T, faults *stFaults, sender, receiver func(*Transport)) (a, b *testMember, dir string) {
	t.Helper()
	dir = t.TempDir()
	a = startMember(t, 1, func(tr *Transport) {
		utWithRegistry(tr)
		tr.DialContext = faults.dial
		if sender != nil {
			sender(tr)
		}
	})
	b = startMember(t, 2, func(tr *Transport) {
		utWithRegistry(tr)
		tr.Snapshotter = utSnapshotter(dir)
		if receiver != nil {
			receiver(tr)
		}
	})
	connect(t, a, b)
	return a, b, dir
}

// stSendFails sends a pattern DB that must fail to arrive.
func stSendFails(t *testing.T, a *testMember, index uint64, size int64, what string) {
	t.Helper()
	sm := stSnapMessage(index, size)
	a.tr.SendSnapshot(sm)
	if utWaitCloseNotify(t, sm, 20*time.Second) {
		t.Fatalf("%s was accepted", what)
	}
}

func snapDBName(index uint64) string { return fmt.Sprintf("%016x.snap.db", index) }
