//go:build rafthttp_long

package interop

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/rafthttptest"
)

// The large-scale proofs against etcd's Transport, with the same
// public faults (a rafthttptest.Proxy in front of the receiver) as ours
// get in the root module's snapshot_long_test.go. Built only with the
// rafthttp_long tag, run without -race (`make test-long`):
//
//	go test -tags rafthttp_long -run 'TestLong' -v -count=1 -timeout 30m .

const longSize = 1 << 30

// etcd's Transport on both sides, a 1 GiB DB over a link capped at
// 20 MB/s, and the same cut schedule as ours: three connections in turn
// are cut after 30% of the DB. etcd starts every attempt from byte 0, so
// each cut costs it the bytes already sent. Attempts are bounded at 4;
// the figures are logged for docs/snapshots.md.
func TestLongEtcdSnapshotCutThreeTimes(t *testing.T) {
	p := startLinkPair(t, implEtcd)
	p.proxy.ToServer().SetBandwidth(20e6)
	path, want := rafthttptest.WriteDBFile(t, t.TempDir(), longSize)
	var sent atomic.Int64
	start := time.Now()
	outcomes := p.sendWithCuts(t, path, longSize, 3, longSize*3/10, 4, &sent)
	completed := outcomes[len(outcomes)-1]
	t.Logf("etcd: %d attempts %v in %v; %d DB bytes put on the wire for %d (%.3fx), %d bytes reached the receiver; completed: %v",
		len(outcomes), outcomes, time.Since(start).Round(time.Second), sent.Load(), longSize,
		float64(sent.Load())/longSize, p.received.Load(), completed)
	if !completed {
		t.Fatalf("etcd never completed: %v", outcomes)
	}
	if got := p.savedSum(t); got != want {
		t.Errorf("etcd saved a DB with sha256 %x, want %x", got, want)
	}
	// Every attempt starts over: three cut ones of 30% each, then the DB.
	if sent.Load() < longSize*19/10 {
		t.Errorf("etcd sent %d DB bytes, want at least 1.9x the DB: each attempt starts from 0", sent.Load())
	}
}

// etcd's Transport on both sides, a 1 GiB DB over a 100 MB/s link that
// stalls for 10 s at about a third of the DB (and would again at two
// thirds): the receiver, on etcd's peer listener, gives up after 5 s
// without a byte (its per-read timeout), before the stall is over, and
// the attempt fails. This is what one etcd member sees from another;
// ours complete the same transfer in one attempt
// (TestLongSnapshotStallsTwice in the root module).
func TestLongEtcdSnapshotStallFails(t *testing.T) {
	p := startLinkPair(t, implEtcd)
	p.proxy.ToServer().SetBandwidth(100e6)
	path, _ := rafthttptest.WriteDBFile(t, t.TempDir(), longSize)
	var sent atomic.Int64
	start := time.Now()
	p.index++
	done := p.start(t, path, longSize, &sent)
	waitFor(t, 2*time.Minute, "a third of the DB sent", func() bool { return sent.Load() >= longSize/3 })
	p.proxy.ToServer().Stall(10 * time.Second)
	stalled := time.Now()
	var ok bool
	select {
	case ok = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("etcd's attempt neither failed nor completed within 2 minutes")
	}
	failedAfter := time.Since(stalled)
	t.Logf("etcd: ok=%v %v after the stall began (%v in, %d DB bytes sent)", ok,
		failedAfter.Round(100*time.Millisecond), time.Since(start).Round(time.Second), sent.Load())
	if ok {
		t.Fatal("etcd's transfer survived a 10 s stall")
	}
	if failedAfter >= 10*time.Second {
		t.Errorf("etcd failed %v after the stall began, want before it ended (its 5 s read timeout)", failedAfter)
	}
	if n := p.leader.raft.snapFailures.Load(); n != 1 {
		t.Errorf("%d ReportSnapshot(Failure), want 1", n)
	}
}

// Heartbeat round trips between a leader and a follower on loopback
// while the leader sends the follower a 1 GiB snapshot with no cap, for
// etcd's Transport and ours: the cost of a snapshot to the heartbeats of
// the same peer pair when only the CPU and the loopback are shared. Log
// only; the capped proof over a bandwidth-limited link is
// TestLongHeartbeatsDuringSnapshot in the root module.
func TestLongHeartbeatsDuringSnapshotLoopback(t *testing.T) {
	src := writePatternFile(t, t.TempDir(), longSize)
	for _, impl := range benchImpls {
		t.Run(impl, func(t *testing.T) {
			logHeartbeatsDuringSnapshot(t, startPerfPair(t, impl, 1, 64), src)
		})
	}
}

// The same over a 25 MB/s link from the leader behind one 2 MiB FIFO
// queue that the snapshot and the heartbeats share, as the root module's
// TestLongHeartbeatsDuringSnapshot has it: without a cap (etcd has none)
// the snapshot keeps the queue full, and each heartbeat waits for it to
// drain. Log only: the figure for etcd that issue #15 asks for.
func TestLongHeartbeatsDuringSnapshotFIFO(t *testing.T) {
	src := writePatternFile(t, t.TempDir(), longSize)
	for _, impl := range benchImpls {
		t.Run(impl, func(t *testing.T) {
			logHeartbeatsDuringSnapshot(t, startFIFOPair(t, impl, rafthttptest.NewBottleneck(25e6, 2<<20)), src)
		})
	}
}

// startFIFOPair connects a leader and a follower of impl through a Proxy
// in front of each, so that every byte from the leader to the follower
// crosses link: its requests to the follower (snapshot POSTs among them)
// and its answers to the follower's stream requests (heartbeats among
// them). Bytes the other way are not limited. The pair stops at cleanup.
func startFIFOPair(tb testing.TB, impl string, link *rafthttptest.Bottleneck) *perfPair {
	tb.Helper()
	p := &perfPair{impl: impl}
	p.leader = startPerfSide(tb, impl, leaderID, tb.TempDir())
	tb.Cleanup(p.leader.close)
	p.follower = startPerfSide(tb, impl, followerID, tb.TempDir())
	tb.Cleanup(p.follower.close)
	toFollower, toLeader := proxyTo(tb, p.follower), proxyTo(tb, p.leader)
	toFollower.ToServer().SetBottleneck(link)
	toLeader.ToClient().SetBottleneck(link)
	p.leader.tr.addPeer(followerID, "http://"+toFollower.Addr())
	p.follower.tr.addPeer(leaderID, "http://"+toLeader.Addr())
	waitFor(tb, 10*time.Second, impl+" message streams attached", func() bool {
		return p.leader.server.active[streamMessage].Load() > 0 && p.follower.server.active[streamMessage].Load() > 0
	})
	return p
}

// proxyTo returns a Proxy in front of s's server, closed at cleanup.
func proxyTo(tb testing.TB, s *perfSide) *rafthttptest.Proxy {
	tb.Helper()
	proxy, err := rafthttptest.NewProxy(s.server.srv.Listener.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { proxy.Close() })
	return proxy
}

// logHeartbeatsDuringSnapshot logs p's heartbeat round-trip p99, idle and
// while the leader sends the follower the DB at src.
func logHeartbeatsDuringSnapshot(t *testing.T, p *perfPair, src string) {
	var rtts []time.Duration
	for range 300 {
		rtts = append(rtts, p.mustPing(t))
	}
	idle := percentile99(rtts)
	rtts = rtts[:0]
	done := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	wg.Go(func() { done <- p.sendSnapshotFile(src, longSize, 0x5000) })
	for sending := true; sending; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			sending = false
		default:
			rtts = append(rtts, p.mustPing(t))
		}
	}
	t.Logf("%s: 1 GiB sent in %v; heartbeat RTT p99 idle %v, during the snapshot %v (%.2fx, %d heartbeats)",
		p.impl, time.Since(start).Round(100*time.Millisecond), idle, percentile99(rtts),
		float64(percentile99(rtts))/float64(idle), len(rtts))
}

// mustPing pings and paces pings 10 ms apart.
func (p *perfPair) mustPing(t *testing.T) time.Duration {
	t.Helper()
	rtt, err := p.ping(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	return rtt
}

// percentile99 is the 99th percentile of ds (which it sorts).
func percentile99(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[(len(ds)*99+99)/100-1]
}

// savedSum is the SHA-256 of the DB the follower saved for the last
// snapshot.
func (p *linkPair) savedSum(t *testing.T) [sha256.Size]byte {
	t.Helper()
	return rafthttptest.FileSHA256(t, filepath.Join(p.follower.snapDir, fmt.Sprintf("%016x.snap.db", p.index)))
}
