//go:build rafthttp_long

package interop

import (
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
