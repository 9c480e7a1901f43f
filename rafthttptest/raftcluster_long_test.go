//go:build rafthttp_long

package rafthttptest

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/types"
)

// A three-node raft cluster catches a follower up from a 1 GiB snapshot
// over a flaky link: 20 MB/s from the leader to the follower, the
// snapshot connection cut at about 30% and 60% of the DB, and the link
// stalled for 10 s at about 80%. Raft retries after each failure; the
// Transports resume; the follower converges with a byte-identical DB.
// Built with the rafthttp_long tag (`make test-long`).
func TestLongRaftClusterCatchUpOverFlakyLink(t *testing.T) {
	const size = 1 << 30
	path, sum := WriteDBFile(t, t.TempDir(), size)
	regs := map[types.ID]*prometheus.Registry{}
	for id := types.ID(1); id <= 3; id++ {
		regs[id] = prometheus.NewRegistry()
	}
	rc := NewRaftCluster(t, 3, WithSnapshotDB(func(uint64) (io.ReadCloser, int64, error) {
		f, err := os.Open(path)
		return f, size, err
	}), WithClusterOptions(WithTransport(func(tr *rafthttp.Transport) { tr.Registerer = regs[tr.ID] })))
	var cut <-chan struct{}
	start := time.Now()
	lead, follower, want := catchUpFromSnapshot(t, rc, func(lead, follower types.ID) {
		rc.Cluster().SetBandwidth(lead, follower, 20e6)
		cut = rc.Cluster().CutAfter(lead, follower, size*3/10)
	})
	c := rc.Cluster()
	WaitFor(t, 2*time.Minute, "the first cut", func() bool { return isClosed(cut) })
	t.Logf("cut 1 after %v", time.Since(start).Round(time.Second))
	cut = c.CutAfter(lead, follower, size*3/10)
	WaitFor(t, 2*time.Minute, "the second cut", func() bool { return isClosed(cut) })
	t.Logf("cut 2 after %v", time.Since(start).Round(time.Second))
	WaitFor(t, 2*time.Minute, "80% of the DB at the follower", func() bool {
		return receivedBytes(c.Member(follower).Transport()) >= size*8/10
	})
	c.Stall(lead, follower, 10*time.Second)
	t.Logf("stalled 10s after %v", time.Since(start).Round(time.Second))
	rc.WaitConverged(t, 5*time.Minute)
	checkApplied(t, rc, want, 1, 2, 3)
	if got := snapshotDBSum(t, c.Member(follower).SnapDir()); got != sum {
		t.Errorf("follower's DB has sha256 %x, the leader's %x", got, sum)
	}
	to := map[string]string{"To": follower.String()}
	t.Logf("leader %s caught follower %s up from a %d-byte snapshot in %v: %v snapshot attempts failed, "+
		"%v DB bytes on the wire (%.3fx), %v resumed; sha256 %x",
		lead, follower, size, time.Since(start).Round(time.Second),
		metricValue(t, regs[lead], "etcd_network_snapshot_send_failures", to),
		metricValue(t, regs[lead], "etcd_network_snapshot_send_bytes_total", to),
		metricValue(t, regs[lead], "etcd_network_snapshot_send_bytes_total", to)/size,
		metricValue(t, regs[lead], "etcd_network_snapshot_send_resumed_bytes_total", to), sum)
}

// receivedBytes is how much of the DB tr's receive in progress holds.
func receivedBytes(tr *rafthttp.Transport) int64 {
	if tr == nil {
		return 0
	}
	for _, x := range tr.SnapshotTransfers() {
		if x.Direction == rafthttp.SnapshotReceiving {
			return x.Offset + x.Bytes
		}
	}
	return 0
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// metricValue is a counter's value on reg with the given labels, 0 if
// absent.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := 0
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] == l.GetValue() {
					match++
				}
			}
			if match == len(labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
