package interop

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	etcdrafthttp "go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
)

// A linkPair is a leader and a follower of one implementation, as two
// members of that implementation's own cluster would be: the follower is
// served on its implementation's peer listener (etcd's has a 5 s read
// timeout per read, as every etcd member's peer listener does), and the
// leader reaches it through a rafthttptest.Proxy, so the bytes of its
// snapshot POSTs cross the Proxy's ToServer faults.
type linkPair struct {
	impl             string
	leader, follower *perfSide
	proxy            *rafthttptest.Proxy
	index            uint64
	// received counts the bytes the follower's server read: what crossed
	// the link to it, snapshot POSTs above all.
	received atomic.Int64
}

// startLinkPair starts and connects a pair; it stops at cleanup.
func startLinkPair(tb testing.TB, impl string) *linkPair {
	tb.Helper()
	p := &linkPair{impl: impl, index: 0x3000}
	p.leader = startPerfSide(tb, impl, leaderID, tb.TempDir())
	tb.Cleanup(p.leader.close)
	p.follower = startPeerListenerSide(tb, impl, followerID, tb.TempDir(), &p.received)
	tb.Cleanup(p.follower.close)
	proxy, err := rafthttptest.NewProxy(p.follower.server.srv.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { proxy.Close() })
	p.proxy = proxy
	p.leader.tr.addPeer(followerID, "http://"+proxy.Addr())
	p.follower.tr.addPeer(leaderID, p.leader.url())
	waitFor(tb, 10*time.Second, impl+" streams attached", func() bool {
		l, f := p.leader.server, p.follower.server
		return l.active[streamMessage].Load() > 0 && f.active[streamMessage].Load() > 0
	})
	return p
}

// startPeerListenerSide starts member id with a perfRaft, served on the
// implementation's own peer listener instead of a plain one; every byte
// the server reads is added to received.
func startPeerListenerSide(tb testing.TB, impl string, id uint64, snapDir string, received *atomic.Int64) *perfSide {
	tb.Helper()
	u := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	var ln net.Listener
	var err error
	if impl == implEtcd {
		ln, err = etcdrafthttp.NewListener(u, nil)
	} else {
		ln, err = rafthttp.NewListener(u, nil)
	}
	if err != nil {
		tb.Fatal(err)
	}
	r := newPerfRaft()
	s := &perfSide{id: id, server: &perfServer{}, snapDir: snapDir, raft: r}
	s.server.srv = httptest.NewUnstartedServer(s.server)
	s.server.srv.Listener.Close()
	s.server.srv.Listener = countingListener{Listener: ln, n: received}
	s.server.srv.Start()
	h, err := s.startImpl(impl, r)
	if err != nil {
		s.server.srv.Close()
		tb.Fatal(err)
	}
	h = peerMux(h)
	s.server.handler.Store(&h)
	r.tr.Store(&s.tr)
	return s
}

// startImpl starts the member's Transport of impl with Raft r.
func (s *perfSide) startImpl(impl string, r *perfRaft) (http.Handler, error) {
	if impl == implEtcd {
		return s.startEtcd(r)
	}
	return s.startOurs(r)
}

// countingListener counts the bytes read from the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sendWithCuts sends the DB file at path, as raft would after each
// failure, until it arrives or maxAttempts failed; each of the first cuts
// connections that carry it is cut after `after` bytes. It returns each
// attempt's outcome; sent counts the DB bytes the sender read.
func (p *linkPair) sendWithCuts(tb testing.TB, path string, size int64, cuts int, after int64,
	maxAttempts int, sent *atomic.Int64) []bool {
	tb.Helper()
	p.index++
	start := time.Now()
	var outcomes []bool
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var cut <-chan struct{}
		if attempt < cuts {
			cut = p.proxy.ToServer().CutAfter(after)
		}
		ok := p.await(tb, p.start(tb, path, size, sent), 5*time.Minute)
		tb.Logf("%s attempt %d: ok=%v after %v, %d DB bytes sent so far", p.impl, attempt+1, ok,
			time.Since(start).Round(time.Second), sent.Load())
		if outcomes = append(outcomes, ok); ok {
			return outcomes
		}
		select {
		case <-cut:
		default:
			tb.Fatalf("%s attempt %d failed without its cut", p.impl, attempt+1)
		}
	}
	return outcomes
}

// countingFile is a snapshot DB file that counts the bytes its sender
// read from it: the DB bytes that sender put on the wire.
type countingFile struct {
	*onceCloser
	n *atomic.Int64
}

func (c countingFile) Read(p []byte) (int, error) {
	n, err := c.onceCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// start starts one attempt to send the DB file at path as the snapshot at
// p.index, counting its bytes into n; it returns the attempt's
// CloseNotify. Attempts at the same index are raft's retries of one
// snapshot, which ours resume.
func (p *linkPair) start(tb testing.TB, path string, size int64, n *atomic.Int64) <-chan bool {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	return p.leader.tr.sendSnapshot(snapMessage(leaderID, followerID, p.index),
		countingFile{onceCloser: &onceCloser{File: f}, n: n}, size)
}

// await waits up to d for an attempt's outcome and, on success, for the
// follower to process it; it reports whether the snapshot arrived.
func (p *linkPair) await(tb testing.TB, done <-chan bool, d time.Duration) bool {
	tb.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ok := <-done:
		if !ok {
			return false
		}
	case <-timer.C:
		tb.Fatalf("%s: snapshot attempt not done within %v", p.impl, d)
	}
	for {
		select {
		case got := <-p.follower.raft.snaps:
			if got == p.index {
				return true
			}
		case <-timer.C:
			tb.Fatalf("%s: MsgSnap %d not processed within %v", p.impl, p.index, d)
		}
	}
}
