package rafthttptest

import (
	"context"
	"math/rand/v2"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/types"
)

// Recorder is a rafthttp.Raft that records everything the Transport hands
// it. It is the default Raft of a cluster member.
type Recorder struct {
	mu          sync.Mutex
	received    []*raftpb.Message
	unreachable []uint64
	snapshots   []SnapshotReport
	// removed are IDs IsIDRemoved reports as removed.
	removed map[uint64]bool
	changed chan struct{}
}

// SnapshotReport is one ReportSnapshot call.
type SnapshotReport struct {
	To     uint64
	Status raft.SnapshotStatus
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{removed: make(map[uint64]bool), changed: make(chan struct{})}
}

var _ rafthttp.Raft = (*Recorder)(nil)

// Process records m.
func (r *Recorder) Process(_ context.Context, m *raftpb.Message) error {
	r.record(func() { r.received = append(r.received, m) })
	return nil
}

// IsIDRemoved reports whether SetRemoved marked id.
func (r *Recorder) IsIDRemoved(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removed[id]
}

// ReportUnreachable records id.
func (r *Recorder) ReportUnreachable(id uint64) {
	r.record(func() { r.unreachable = append(r.unreachable, id) })
}

// ReportSnapshot records the report.
func (r *Recorder) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	r.record(func() { r.snapshots = append(r.snapshots, SnapshotReport{To: id, Status: status}) })
}

// SetRemoved makes IsIDRemoved(id) return true.
func (r *Recorder) SetRemoved(id types.ID) {
	r.record(func() { r.removed[uint64(id)] = true })
}

// record applies f under the lock and wakes anyone waiting for a change.
func (r *Recorder) record(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
	close(r.changed)
	r.changed = make(chan struct{})
}

// Changed returns a channel closed at the next recorded event.
func (r *Recorder) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Received returns the messages processed so far, optionally only those
// from the given member (from == 0 means all).
func (r *Recorder) Received(from types.ID) []*raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*raftpb.Message
	for _, m := range r.received {
		if from == 0 || types.ID(m.GetFrom()) == from {
			out = append(out, m)
		}
	}
	return out
}

// Unreachable returns the IDs reported unreachable so far.
func (r *Recorder) Unreachable() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.unreachable...)
}

// SnapshotReports returns the snapshot reports so far.
func (r *Recorder) SnapshotReports() []SnapshotReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]SnapshotReport(nil), r.snapshots...)
}

// droppingRaft drops a configured fraction of the messages each member
// sends to self before they reach the wrapped Raft: message loss as raft
// sees it, applied around the Transport rather than inside it.
type droppingRaft struct {
	rafthttp.Raft
	self   types.ID
	faults *faultTable

	mu  sync.Mutex
	rng *rand.Rand
}

func (d *droppingRaft) Process(ctx context.Context, m *raftpb.Message) error {
	rate := d.faults.get(link{from: types.ID(m.GetFrom()), to: d.self}).dropRate
	if rate > 0 {
		d.mu.Lock()
		drop := d.rng.Float64() < rate
		d.mu.Unlock()
		if drop {
			return nil
		}
	}
	return d.Raft.Process(ctx, m)
}
