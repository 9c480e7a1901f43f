package interop

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// idlePeers is how many peers BenchmarkIdlePeers connects.
const idlePeers = 100

// BenchmarkIdlePeers measures what an idle peer costs: one member with 100
// peers, each peer a member of the same implementation with that one peer,
// all in this process behind their own httptest servers. After every
// stream is attached (and before any message is sent) the growth of
// goroutines and of live heap plus goroutine stacks since the same members
// were started without peers is divided by 200: each link has a peer at
// both ends, so the figures are per peer per member, with both Transports'
// HTTP connections and probers included. One op is one such setup.
func BenchmarkIdlePeers(b *testing.B) {
	b.Run(fmt.Sprintf("peers=%d", idlePeers), func(b *testing.B) {
		for _, impl := range benchImpls {
			b.Run("impl="+impl, func(b *testing.B) {
				var bytes, goroutines float64
				for range b.N {
					cost, err := measureIdlePeers(b, impl, idlePeers)
					if err != nil {
						b.Fatal(err)
					}
					bytes += cost.bytes
					goroutines += cost.goroutines
				}
				b.ReportMetric(bytes/float64(b.N), "B/peer")
				b.ReportMetric(goroutines/float64(b.N), "goroutines/peer")
			})
		}
	})
}

// peerCost is the average cost of one peer at one member.
type peerCost struct{ bytes, goroutines float64 }

// measureIdlePeers starts a hub and n spokes, measures, connects them,
// waits until every stream is attached and goroutines stop changing,
// measures again and stops everything.
func measureIdlePeers(tb testing.TB, impl string, n int) (peerCost, error) {
	tb.Helper()
	dir := tb.TempDir()
	hub := startPerfSide(tb, impl, 1, dir)
	sides := []*perfSide{hub}
	defer func() {
		for _, s := range sides {
			s.close()
		}
	}()
	for i := range n {
		sides = append(sides, startPerfSide(tb, impl, uint64(i+2), dir))
	}
	if err := settleGoroutines(); err != nil {
		return peerCost{}, err
	}
	before := sampleProcess()
	for _, s := range sides[1:] {
		hub.tr.addPeer(s.id, s.url())
		s.tr.addPeer(hub.id, hub.url())
	}
	want := int64(2 * n)
	attached := func() bool {
		var spokes int64
		for _, s := range sides[1:] {
			spokes += s.server.activeStreams()
		}
		return hub.server.activeStreams() == want && spokes == want
	}
	waitFor(tb, 60*time.Second, fmt.Sprintf("%s: %d streams at each end", impl, want), attached)
	if err := settleGoroutines(); err != nil {
		return peerCost{}, err
	}
	after := sampleProcess()
	if !attached() {
		return peerCost{}, fmt.Errorf("%s: streams dropped while idle", impl)
	}
	for _, s := range sides {
		if u := s.raft.unreachable.Load(); u != 0 {
			return peerCost{}, fmt.Errorf("%s: member %d reported %d peers unreachable", impl, s.id, u)
		}
	}
	ends := float64(2 * n)
	return peerCost{
		bytes:      (float64(after.bytes) - float64(before.bytes)) / ends,
		goroutines: (float64(after.goroutines) - float64(before.goroutines)) / ends,
	}, nil
}

// processSample is the live memory and goroutine count after a GC.
type processSample struct{ bytes, goroutines uint64 }

func sampleProcess() processSample {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{
		{Name: heapObjectsMetric}, {Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/sched/goroutines:goroutines"},
	}
	metrics.Read(s)
	return processSample{bytes: s[0].Value.Uint64() + s[1].Value.Uint64(), goroutines: s[2].Value.Uint64()}
}

// settleGoroutines waits until the goroutine count holds still for 100 ms
// (connections finish their handshakes, earlier members finish stopping).
func settleGoroutines() error {
	const step, steady, limit = 20 * time.Millisecond, 5, 10 * time.Second
	last, same := runtime.NumGoroutine(), 0
	for waited := time.Duration(0); waited < limit; waited += step {
		time.Sleep(step)
		if n := runtime.NumGoroutine(); n == last {
			if same++; same == steady {
				return nil
			}
		} else {
			last, same = n, 0
		}
	}
	return fmt.Errorf("goroutine count still changing after %v (now %d)", limit, last)
}
