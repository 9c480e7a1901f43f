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
	path, want := writeRandomDB(t, t.TempDir(), longSize)
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
	path, _ := writeRandomDB(t, t.TempDir(), longSize)
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
			p := startPerfPair(t, impl, 1, 64)
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
				impl, time.Since(start).Round(100*time.Millisecond), idle, percentile99(rtts),
				float64(percentile99(rtts))/float64(idle), len(rtts))
		})
	}
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
	return fileSHA256(t, filepath.Join(p.follower.snapDir, fmt.Sprintf("%016x.snap.db", p.index)))
}
