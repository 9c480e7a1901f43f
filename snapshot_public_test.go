package rafthttp_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// Snapshot proofs through the public faults of rafthttptest, the ones
// users get: member 1 sends a DB file to member 2 of a Cluster, whose
// fault layer sits on the sockets between them.

// pubPair is a two-member Cluster whose Transports register their
// metrics on regs[id].
type pubPair struct {
	c    *rafthttptest.Cluster
	regs map[types.ID]*prometheus.Registry
}

// newPubPair starts the pair; configure, if not nil, adjusts each
// Transport (sender and receiver alike) before it starts.
func newPubPair(t *testing.T, configure func(*rafthttp.Transport), opts ...rafthttptest.Option) *pubPair {
	t.Helper()
	p := &pubPair{regs: map[types.ID]*prometheus.Registry{1: prometheus.NewRegistry(), 2: prometheus.NewRegistry()}}
	opts = append(opts, rafthttptest.WithTransport(func(tr *rafthttp.Transport) {
		tr.Registerer = p.regs[tr.ID]
		if configure != nil {
			configure(tr)
		}
	}))
	p.c = rafthttptest.NewCluster(t, 2, opts...)
	p.c.WaitAllStreams(t, 10*time.Second)
	return p
}

// pubSnapMsg is a MsgSnap from 1 to 2 at index.
func pubSnapMsg(index uint64) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(2),
		Term: proto.Uint64(1), Snapshot: &raftpb.Snapshot{
			Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(1)}}}
}

// send sends the DB file at path as the snapshot at index, as raft would,
// and reports whether it arrived within d.
func (p *pubPair) send(t *testing.T, path string, index uint64, d time.Duration) bool {
	t.Helper()
	return pubWait(t, p.start(t, path, index), d)
}

// start starts sending the DB file at path as the snapshot at index.
func (p *pubPair) start(t *testing.T, path string, index uint64) *snap.Message {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m := snap.NewMessage(pubSnapMsg(index), f, st.Size())
	p.c.Member(1).Transport().SendSnapshot(m)
	return m
}

// pubWait reports whether m arrived, failing t if it is not done within d.
func pubWait(t *testing.T, m *snap.Message, d time.Duration) bool {
	t.Helper()
	select {
	case ok := <-m.CloseNotify():
		return ok
	case <-time.After(d):
		t.Fatalf("snapshot %d not done within %v", m.GetSnapshot().GetMetadata().GetIndex(), d)
		return false
	}
}

// metric is the value of a counter or gauge of member id with the given
// label, 0 if absent.
func (p *pubPair) metric(t *testing.T, id types.ID, name, label, value string) float64 {
	t.Helper()
	families, err := p.regs[id].Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// snapshotReports are member 1's ReportSnapshot calls.
func (p *pubPair) snapshotReports() []rafthttptest.SnapshotReport {
	return p.c.Member(1).Recorder().SnapshotReports()
}

// pubCheckDB checks that dir holds exactly one file, the DB of the
// snapshot at index, with the given SHA-256.
func pubCheckDB(t *testing.T, dir string, index uint64, want [sha256.Size]byte) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%016x.snap.db", index)
	if len(entries) != 1 || entries[0].Name() != name {
		t.Fatalf("snapshot dir holds %v, want only %s", entries, name)
	}
	if got := rafthttptest.FileSHA256(t, filepath.Join(dir, name)); got != want {
		t.Fatalf("received DB has sha256 %x, the sender's %x", got, want)
	}
	t.Logf("sha256 %x on both sides", want)
}

// One byte flipped on the socket, well inside the DB (past the request
// headers, the envelope and the first chunk headers): the receiver's
// checksum catches it, no file is left, raft hears SnapshotFailure, the
// failure metrics count it, and the retry succeeds.
func TestSnapshotPublicFlipByte(t *testing.T) {
	const size = 4 << 20
	p := newPubPair(t, nil)
	path, sum := rafthttptest.WriteDBFile(t, t.TempDir(), size)
	flipped := p.c.FlipByte(1, 2, size/2+12345)
	if p.send(t, path, 9, 30*time.Second) {
		t.Fatal("a snapshot with a flipped byte was accepted")
	}
	select {
	case <-flipped:
	default:
		t.Fatal("the flip did not happen")
	}
	if got := p.snapshotReports(); len(got) != 1 || got[0].Status != raft.SnapshotFailure {
		t.Errorf("snapshot reports %v, want one SnapshotFailure", got)
	}
	dir := p.c.Member(2).SnapDir()
	rafthttptest.WaitFor(t, 5*time.Second, "the receiver's dir to be empty", func() bool {
		entries, _ := os.ReadDir(dir)
		return len(entries) == 0
	})
	for name, want := range map[string]float64{
		"etcd_network_snapshot_receive_checksum_failures": 1,
		"etcd_network_snapshot_receive_failures":          1,
	} {
		if got := p.metric(t, 2, name, "From", "1"); got != want {
			t.Errorf("%s{From=1} = %v, want %v", name, got, want)
		}
	}
	if got := p.metric(t, 1, "etcd_network_snapshot_send_failures", "To", "2"); got != 1 {
		t.Errorf("snapshot_send_failures{To=2} = %v, want 1", got)
	}
	for _, m := range p.c.Member(2).Recorder().Received(1) {
		if m.GetType() == raftpb.MsgSnap {
			t.Errorf("receiver processed a MsgSnap from a corrupted snapshot")
		}
	}
	if !p.send(t, path, 9, 30*time.Second) {
		t.Fatal("the retry failed")
	}
	pubCheckDB(t, dir, 9, sum)
}

// A snapshot whose connection is cut at about 30%, 60% and 90% of the DB
// completes in four attempts, resuming each time, with at most 1.1x its
// size put on the wire, byte-identical. (TestLongSnapshotCutThreeTimes
// does the same with 1 GiB at 20 MB/s.)
func TestSnapshotPublicCutThreeTimes(t *testing.T) {
	const size = 32 << 20
	p := newPubPair(t, nil)
	path, sum := rafthttptest.WriteDBFile(t, t.TempDir(), size)
	// At each cut the sender has written up to about 4 MiB more than got
	// through (socket buffers and the fault layer's queue), which a small
	// DB cannot absorb in 10%; the receiver's count has no such slack.
	attempts := p.checkCutThreeTimes(t, path, size, sum, 3*4<<20)
	resumed := p.metric(t, 1, "etcd_network_snapshot_send_resumed_bytes_total", "To", "2")
	if resumed < size/2 {
		t.Errorf("snapshot_send_resumed_bytes_total = %v, want most of the DB", resumed)
	}
	if got := p.metric(t, 2, "etcd_network_snapshot_receive_resumed_bytes_total", "From", "1"); got != resumed {
		t.Errorf("receiver resumed %v bytes, sender %v", got, resumed)
	}
	// etcd's byte counters, resumed or not: the sender counts the delivered
	// snapshot once, whole; the receiver each attempt's envelope, and the
	// whole DB once. Both also count the streams' own few bytes (link
	// heartbeats), hence the small range.
	envelope := proto.Size(pubSnapMsg(9))
	for _, c := range []struct {
		id          types.ID
		name, label string
		value       string
		want        int
	}{
		{1, "etcd_network_peer_sent_bytes_total", "To", "2", envelope + size},
		{2, "etcd_network_peer_received_bytes_total", "From", "1", attempts*envelope + size},
	} {
		if got := p.metric(t, c.id, c.name, c.label, c.value); got < float64(c.want) || got > float64(c.want+64<<10) {
			t.Errorf("%s = %v, want %d (+ stream bytes, < 64 KiB): the DB once and %d envelope(s)",
				c.name, got, c.want, map[types.ID]int{1: 1, 2: attempts}[c.id])
		}
	}
}

// checkCutThreeTimes sends the DB at path, of size bytes, cutting each of
// the first three connections that carry it after 30% of the DB: each
// attempt resumes where the last cut left the receiver, so the cuts fall
// at about 30%, 60% and 90% of the DB. At most 1.1x the DB, plus slack,
// may leave the sender, and at most 1.1x may reach the receiver. It
// returns the number of attempts.
func (p *pubPair) checkCutThreeTimes(t *testing.T, path string, size int64, sum [sha256.Size]byte, slack int64) int {
	t.Helper()
	start := time.Now()
	within := time.Minute + time.Duration(size/5e6)*time.Second
	var outcomes []bool
	for attempt := 0; attempt < 6; attempt++ {
		var cut <-chan struct{}
		if attempt < 3 {
			cut = p.c.CutAfter(1, 2, size*3/10)
		}
		ok := p.send(t, path, 9, within)
		t.Logf("attempt %d: ok=%v after %v, %.0f DB bytes sent so far", attempt+1, ok,
			time.Since(start).Round(time.Second), p.metric(t, 1, "etcd_network_snapshot_send_bytes_total", "To", "2"))
		if outcomes = append(outcomes, ok); ok {
			break
		}
		select {
		case <-cut:
		default:
			t.Fatalf("attempt %d failed without its cut", attempt+1)
		}
	}
	wire := p.metric(t, 1, "etcd_network_snapshot_send_bytes_total", "To", "2")
	resumed := p.metric(t, 1, "etcd_network_snapshot_send_resumed_bytes_total", "To", "2")
	received := p.metric(t, 2, "etcd_network_snapshot_receive_bytes_total", "From", "1")
	t.Logf("ours: %d attempts %v in %v; %.0f DB bytes put on the wire for %d (%.3fx), %.0f received (%.3fx), %.0f resumed",
		len(outcomes), outcomes, time.Since(start).Round(time.Second), wire, size, wire/float64(size),
		received, received/float64(size), resumed)
	if len(outcomes) != 4 || !outcomes[3] {
		t.Errorf("attempts %v, want three cut and the fourth through", outcomes)
	}
	if wire > float64(size)*1.1+float64(slack) {
		t.Errorf("%.3fx the DB on the wire, want at most 1.1x (+%d bytes)", wire/float64(size), slack)
	}
	if received > float64(size)*1.1 {
		t.Errorf("%.3fx the DB received, want at most 1.1x", received/float64(size))
	}
	pubCheckDB(t, p.c.Member(2).SnapDir(), 9, sum)
	return len(outcomes)
}
