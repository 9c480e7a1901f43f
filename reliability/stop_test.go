package reliability

import (
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/snap"
)

// zeroReader yields size zero bytes and counts what was read.
type zeroReader struct {
	size int64
	read atomic.Int64
}

func (z *zeroReader) Read(p []byte) (int, error) {
	left := z.size - z.read.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), left))
	clear(p[:n])
	z.read.Add(int64(n))
	return n, nil
}

// TestStopDuringSnapshotToBlackholedPeer stops the sender while a
// snapshot to an unreachable peer is in flight: Stop returns within a
// second, the snapshot is reported failed, and once the cluster is down
// the goroutine count is back to where it started.
func TestStopDuringSnapshotToBlackholedPeer(t *testing.T) {
	tests := []struct {
		name string
		// fault keeps the snapshot from reaching member 2.
		fault func(c *rafthttptest.Cluster)
		// size of the DB and how much must have been read before Stop.
		size, inFlight int64
	}{
		// The sender waits for a reply that never comes: to the offer
		// that precedes the upload, so no DB byte is read yet (the wait
		// is bounded by the snapshot stall timeout, 30 s).
		{"blackhole-awaiting-reply", func(c *rafthttptest.Cluster) { c.Blackhole(2) }, 64 << 10, 0},
		// The receiver stops reading: the sender blocks mid-body once the
		// socket buffers are full.
		{"stalled-mid-body", func(c *rafthttptest.Cluster) { c.SetBandwidth(1, 2, 1) }, 1 << 30, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stopDuringSnapshot(t, tt.fault, tt.size, tt.inFlight)
		})
	}
}

func stopDuringSnapshot(t *testing.T, fault func(*rafthttptest.Cluster), size, inFlight int64) {
	baseline := runtime.NumGoroutine()
	reg := prometheus.NewRegistry()
	c := rafthttptest.NewCluster(t, 2, rafthttptest.WithTransport(func(tr *rafthttp.Transport) {
		if tr.ID == 1 {
			tr.Registerer = reg
		}
	}))
	c.WaitAllStreams(t, 5*time.Second)
	fault(c)
	body := &zeroReader{size: size}
	m := snap.NewMessage(newSnapMessage(1, 2, nil).Message, io.NopCloser(body), size)
	tr := c.Member(1).Transport()
	tr.SendSnapshot(m)
	rafthttptest.WaitFor(t, 10*time.Second, "snapshot in flight", func() bool {
		return body.read.Load() >= inFlight &&
			metricValue(t, reg, "snapshot_send_inflights_total", "To", "2") == 1
	})
	start := time.Now()
	tr.Stop()
	took := time.Since(start)
	t.Logf("Stop returned after %v with %d of %d DB bytes read", took, body.read.Load(), size)
	if took > time.Second {
		t.Errorf("Stop took %v, want at most 1s", took)
	}
	if waitNotify(t, m, time.Second) {
		t.Error("CloseNotify reported success for an aborted snapshot")
	}
	c.StopMember(1)
	c.StopMember(2)
	back := rafthttptest.WaitFor(t, 5*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= baseline
	})
	t.Logf("goroutines back to %d (baseline %d) %v after the cluster stopped", runtime.NumGoroutine(), baseline, back)
}
