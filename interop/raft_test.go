package interop

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// probeBase is the smallest Commit a probe carries. Test messages use small
// commits, so a probe can never be mistaken for one of them.
const probeBase = 1 << 40

// probeSeq numbers probes across the whole test binary.
var probeSeq atomic.Uint64

// newProbe returns a message used only to find out which channel traffic
// takes: Term 0 (no test message of these types has it) and a unique Commit.
// MsgApp probes have LogTerm 0, Index 0 and no entries, so on a fresh
// msgappv2 connection (encoder state term 0, index 0) they take the fast
// path and leave the encoder state where a new connection starts.
func newProbe(typ raftpb.MessageType, from, to uint64) (*raftpb.Message, uint64) {
	seq := probeBase + probeSeq.Add(1)
	return &raftpb.Message{
		Type: typ.Enum(), From: proto.Uint64(from), To: proto.Uint64(to),
		Term: proto.Uint64(0), Commit: proto.Uint64(seq),
	}, seq
}

// isProbe reports whether m is a probe built by newProbe. It relies only on
// fields that survive the msgappv2 fast path.
func isProbe(m *raftpb.Message) bool {
	switch m.GetType() {
	case raftpb.MsgHeartbeat, raftpb.MsgApp:
		return m.GetTerm() == 0 && m.GetCommit() > probeBase
	}
	return false
}

// forbiddenError is how etcd's server refuses a message from a removed
// member: an error that writes its own 403 reply. Its WriteTo has the shape
// both Transports look for.
type forbiddenError struct{}

// Error returns the text etcd's server uses.
func (forbiddenError) Error() string { return "cannot process message from removed member" }

// WriteTo answers 403 Forbidden.
func (e forbiddenError) WriteTo(w http.ResponseWriter) {
	http.Error(w, e.Error(), http.StatusForbidden)
}

// snapReport is one ReportSnapshot call.
type snapReport struct {
	id     uint64
	status raft.SnapshotStatus
}

// recordingRaft implements both our rafthttp.Raft and etcd's (the interfaces
// have the same method set). Processed messages go to channels, probes to a
// channel of their own; reports are recorded. It never blocks a Transport.
type recordingRaft struct {
	msgc   chan *raftpb.Message
	probec chan uint64
	snapc  chan snapReport

	// removed and rejectFrom are fixed before the Transport starts.
	removed    map[uint64]bool
	rejectFrom map[uint64]bool

	mu          sync.Mutex
	unreachable map[uint64]int
	dropped     int
}

// newRecordingRaft returns a raft that reports the removed IDs as removed
// and refuses messages from the rejectFrom IDs.
func newRecordingRaft(removed, rejectFrom []uint64) *recordingRaft {
	r := &recordingRaft{
		msgc:        make(chan *raftpb.Message, 4096),
		probec:      make(chan uint64, 4096),
		snapc:       make(chan snapReport, 64),
		removed:     make(map[uint64]bool),
		rejectFrom:  make(map[uint64]bool),
		unreachable: make(map[uint64]int),
	}
	for _, id := range removed {
		r.removed[id] = true
	}
	for _, id := range rejectFrom {
		r.rejectFrom[id] = true
	}
	return r
}

// Process queues m for the test. A full queue counts as a drop, which the
// receive helpers report. Messages from a rejectFrom ID are refused with
// forbiddenError and not queued.
func (r *recordingRaft) Process(_ context.Context, m *raftpb.Message) error {
	if r.rejectFrom[m.GetFrom()] {
		return forbiddenError{}
	}
	if isProbe(m) {
		select {
		case r.probec <- m.GetCommit():
		default:
		}
		return nil
	}
	select {
	case r.msgc <- m:
	default:
		r.mu.Lock()
		r.dropped++
		r.mu.Unlock()
	}
	return nil
}

// IsIDRemoved reports the IDs the test configured as removed.
func (r *recordingRaft) IsIDRemoved(id uint64) bool { return r.removed[id] }

// ReportUnreachable counts the report per ID.
func (r *recordingRaft) ReportUnreachable(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable[id]++
}

// ReportSnapshot queues the report for the test.
func (r *recordingRaft) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	select {
	case r.snapc <- snapReport{id: id, status: status}:
	default:
	}
}

// unreachableCount returns how often id was reported unreachable.
func (r *recordingRaft) unreachableCount(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[id]
}

// receive waits up to d for the next processed (non-probe) message.
func (r *recordingRaft) receive(t testing.TB, d time.Duration) *raftpb.Message {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case m := <-r.msgc:
		return m
	case <-timer.C:
		r.mu.Lock()
		dropped := r.dropped
		r.mu.Unlock()
		t.Fatalf("no message processed within %v (%d dropped on a full queue)", d, dropped)
		return nil
	}
}

// assertNothingProcessed fails if a non-probe message was processed.
func (r *recordingRaft) assertNothingProcessed(t testing.TB) {
	t.Helper()
	select {
	case m := <-r.msgc:
		t.Fatalf("unexpected message processed: %v", m)
	default:
	}
}

// awaitProbe waits up to d for the probe with sequence number seq, skipping
// older probes that arrive late.
func (r *recordingRaft) awaitProbe(seq uint64, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case got := <-r.probec:
			if got == seq {
				return true
			}
		case <-timer.C:
			return false
		}
	}
}

// awaitSnapReport waits up to d for the next ReportSnapshot call.
func (r *recordingRaft) awaitSnapReport(t testing.TB, d time.Duration) snapReport {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case rep := <-r.snapc:
		return rep
	case <-timer.C:
		t.Fatalf("no ReportSnapshot within %v", d)
		return snapReport{}
	}
}
