package rafthttp

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/types"
)

// recordingRaft records everything the Transport tells raft.
type recordingRaft struct {
	recvc     chan *raftpb.Message
	err       error
	removedID uint64

	// onSnapshotReport, when set, runs at each ReportSnapshot.
	onSnapshotReport func()

	mu          sync.Mutex
	unreachable []uint64
	snapReports []raft.SnapshotStatus
}

func newRecordingRaft() *recordingRaft {
	return &recordingRaft{recvc: make(chan *raftpb.Message, 1024)}
}

func (r *recordingRaft) Process(_ context.Context, m *raftpb.Message) error {
	select {
	case r.recvc <- m:
	default:
	}
	return r.err
}

func (r *recordingRaft) IsIDRemoved(id uint64) bool { return id != 0 && id == r.removedID }

func (r *recordingRaft) ReportUnreachable(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable = append(r.unreachable, id)
}

func (r *recordingRaft) ReportSnapshot(_ uint64, status raft.SnapshotStatus) {
	if r.onSnapshotReport != nil {
		r.onSnapshotReport()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snapReports = append(r.snapReports, status)
}

func (r *recordingRaft) snapshotReports() []raft.SnapshotStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]raft.SnapshotStatus(nil), r.snapReports...)
}

// receive waits for the next processed message.
func (r *recordingRaft) receive(t *testing.T) *raftpb.Message {
	t.Helper()
	select {
	case m := <-r.recvc:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a message")
		return nil
	}
}

// testMember is a started Transport behind an httptest server.
type testMember struct {
	tr   *Transport
	raft *recordingRaft
	srv  *httptest.Server
}

func startMember(t *testing.T, id types.ID, mutate func(*Transport)) *testMember {
	t.Helper()
	r := newRecordingRaft()
	tr := &Transport{ID: id, ClusterID: 0xc1, Raft: r}
	if mutate != nil {
		mutate(tr)
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tr.Handler())
	t.Cleanup(func() {
		tr.Stop()
		srv.Close()
	})
	return &testMember{tr: tr, raft: r, srv: srv}
}

// connect makes a and b peers of each other and waits for all four
// streams to work.
func connect(t *testing.T, a, b *testMember) {
	t.Helper()
	a.tr.AddPeer(b.tr.ID, []string{b.srv.URL})
	b.tr.AddPeer(a.tr.ID, []string{a.srv.URL})
	waitStreams(t, a, b.tr.ID)
	waitStreams(t, b, a.tr.ID)
}

func waitStreams(t *testing.T, m *testMember, peerID types.ID) {
	t.Helper()
	waitFor(t, 5*time.Second, "streams to work", func() bool {
		p, ok := m.tr.Get(peerID).(*peer)
		return ok && p.writer.isWorking() && p.msgAppV2Writer.isWorking()
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func msg(typ raftpb.MessageType, from, to, term uint64) *raftpb.Message {
	return &raftpb.Message{Type: &typ, From: proto.Uint64(from), To: proto.Uint64(to), Term: proto.Uint64(term)}
}

// startBenchMember starts a Transport with r behind an httptest server.
func startBenchMember(tb testing.TB, id types.ID, r Raft) *testMember {
	tb.Helper()
	tr := &Transport{ID: id, ClusterID: 0xc1, Raft: r}
	if err := tr.Start(); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(tr.Handler())
	tb.Cleanup(func() {
		tr.Stop()
		srv.Close()
	})
	return &testMember{tr: tr, srv: srv}
}
