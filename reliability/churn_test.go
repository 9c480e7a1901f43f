package reliability

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/types"
)

// countingRaft counts what it is handed and keeps nothing, so a long run
// does not grow the heap.
type countingRaft struct {
	processed, unreachable atomic.Int64
}

func (r *countingRaft) Process(context.Context, *raftpb.Message) error {
	r.processed.Add(1)
	return nil
}
func (r *countingRaft) IsIDRemoved(uint64) bool                    { return false }
func (r *countingRaft) ReportUnreachable(uint64)                   { r.unreachable.Add(1) }
func (r *countingRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {}

// heapInuse returns HeapInuse after a full collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// sendLoop sends a heartbeat from member 1 to members 2 and 3 every
// millisecond until stop is closed, and counts the batches.
func sendLoop(c *rafthttptest.Cluster, stop <-chan struct{}, sent *atomic.Int64) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		c.Member(1).Transport().Send([]*raftpb.Message{
			newMsg(raftpb.MsgHeartbeat, 1, 2, 1), newMsg(raftpb.MsgHeartbeat, 1, 3, 1),
		})
		sent.Add(1)
	}
}

// TestPeerChurnUnderTraffic adds, updates and removes member 3 on member
// 1's Transport 1,000 times while another goroutine keeps sending to
// every peer: no race, no leak, and the heap stays flat.
func TestPeerChurnUnderTraffic(t *testing.T) {
	rafts := make(map[types.ID]*countingRaft)
	c := rafthttptest.NewCluster(t, 3, rafthttptest.WithRaft(func(id types.ID) rafthttp.Raft {
		rafts[id] = &countingRaft{}
		return rafts[id]
	}))
	c.WaitAllStreams(t, 5*time.Second)
	tr, url3 := c.Member(1).Transport(), c.Member(3).URL
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { sendLoop(c, stop, &sent) })
	defer wg.Wait()
	defer close(stop)

	const cycles = 1000
	var heap100, heap1000 uint64
	var goroutines100, goroutines1000 int
	start := time.Now()
	for i := 1; i <= cycles; i++ {
		tr.RemovePeer(3)
		tr.AddPeer(3, []string{url3})
		tr.UpdatePeer(3, []string{url3, "http://127.0.0.1:1"})
		tr.UpdatePeer(3, []string{url3})
		if i%50 == 0 {
			// Now and then let the new peer connect fully before it goes.
			c.WaitStreams(t, 1, 3, 5*time.Second)
		}
		switch i {
		case 100:
			heap100, goroutines100 = heapInuse(), runtime.NumGoroutine()
		case cycles:
			heap1000, goroutines1000 = heapInuse(), runtime.NumGoroutine()
		}
	}
	took := time.Since(start)
	t.Logf("%d cycles in %v (%v each) with %d send batches; HeapInuse %.1f MiB at cycle 100, "+
		"%.1f MiB at cycle %d; goroutines %d at cycle 100, %d at cycle %d",
		cycles, took, took/cycles, sent.Load(), mib(heap100), mib(heap1000), cycles,
		goroutines100, goroutines1000, cycles)
	// Idle keep-alive connections (about five goroutines each across both
	// ends and the fault layer) come and go with the traffic; a leak per
	// cycle would add hundreds.
	if goroutines1000 > goroutines100+100 {
		t.Errorf("goroutines grew from %d at cycle 100 to %d at cycle %d", goroutines100, goroutines1000, cycles)
	}
	if limit := 2*heap100 + 4<<20; heap1000 > limit {
		t.Errorf("HeapInuse grew from %.1f to %.1f MiB, limit %.1f", mib(heap100), mib(heap1000), mib(limit))
	}
	checkStillWorks(t, c, rafts[3])
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// checkStillWorks checks that member 1 still reaches member 3 after the
// churn.
func checkStillWorks(t *testing.T, c *rafthttptest.Cluster, r3 *countingRaft) {
	t.Helper()
	before := r3.processed.Load()
	d := rafthttptest.WaitFor(t, 5*time.Second, "member 3 receives after churn", func() bool {
		return r3.processed.Load() > before+10
	})
	c.WaitStreams(t, 1, 3, 5*time.Second)
	t.Logf("after the churn member 3 receives again within %v", d)
}
