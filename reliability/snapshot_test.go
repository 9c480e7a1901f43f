package reliability

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// snapIndex is the index of every test snapshot.
const snapIndex = 42

// newSnapMessage returns a snapshot of db from → to at snapIndex.
func newSnapMessage(from, to types.ID, db []byte) *snap.Message {
	m := &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(uint64(from)), To: proto.Uint64(uint64(to)),
		Term: proto.Uint64(1),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
			Index: proto.Uint64(snapIndex), Term: proto.Uint64(1),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
		}},
	}
	return snap.NewMessage(m, io.NopCloser(bytes.NewReader(db)), int64(len(db)))
}

// randomDB returns n reproducible random bytes.
func randomDB(n int) []byte {
	rng := rand.New(rand.NewPCG(7, 7))
	db := make([]byte, n)
	for i := range db {
		db[i] = byte(rng.Uint32())
	}
	return db
}

// snapFiles lists the finished snapshot files, the temporary files (a
// transfer from an etcd sender in progress) and the partial files (what a
// transfer between rafthttp Transports keeps to resume from), and the
// bytes in the last two.
func snapFiles(t *testing.T, dir string) (dbs, tmps, partials []string, tmpBytes int64) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read snapshot dir: %v", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".snap.db"):
			dbs = append(dbs, name)
			continue
		case strings.HasSuffix(name, ".snap.partial"):
			partials = append(partials, name)
		case strings.HasPrefix(name, "tmp"):
			tmps = append(tmps, name)
		default:
			continue
		}
		if info, err := e.Info(); err == nil {
			tmpBytes += info.Size()
		}
	}
	return dbs, tmps, partials, tmpBytes
}

// waitNotify waits for a snapshot's outcome, failing t after timeout.
func waitNotify(t *testing.T, m *snap.Message, timeout time.Duration) bool {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ok := <-m.CloseNotify():
		return ok
	case <-timer.C:
		t.Fatalf("no snapshot outcome after %v", timeout)
		return false
	}
}

func hasReport(r *rafthttptest.Recorder, to types.ID, status raft.SnapshotStatus) bool {
	return slices.Contains(r.SnapshotReports(), rafthttptest.SnapshotReport{To: uint64(to), Status: status})
}

func countSnaps(r *rafthttptest.Recorder, from types.ID) int {
	n := 0
	for _, m := range r.Received(from) {
		if m.GetType() == raftpb.MsgSnap {
			n++
		}
	}
	return n
}

// TestSnapshotCutMidTransfer slows the link to member 2, cuts it while a
// 1 MiB snapshot is half sent, and checks that the sender hears of the
// failure, the receiver keeps no DB (at most a partial file to resume
// from), and a retry after healing stores an identical file and nothing
// else.
func TestSnapshotCutMidTransfer(t *testing.T) {
	tests := []struct {
		name      string
		cut, heal func(c *rafthttptest.Cluster)
	}{
		// Partition resets every connection between 1 and 2 and refuses
		// new ones from 1.
		{"partition", func(c *rafthttptest.Cluster) { c.Partition(1, 2) }, (*rafthttptest.Cluster).HealAll},
		{"reset", func(c *rafthttptest.Cluster) { c.Reset(1, 2) }, (*rafthttptest.Cluster).HealAll},
		{"receiver-crash", func(c *rafthttptest.Cluster) { c.StopMember(2) }, func(c *rafthttptest.Cluster) {
			c.HealAll()
			c.RestartMember(2)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rafthttptest.NewCluster(t, 2)
			c.WaitAllStreams(t, 5*time.Second)
			db := randomDB(1 << 20)
			cutSnapshot(t, c, db, tt.cut)
			tt.heal(c)
			retrySnapshot(t, c, db)
		})
	}
}

// cutSnapshot sends db to member 2 at 256 KiB/s and cuts the transfer
// with cut once over a third of it is stored.
func cutSnapshot(t *testing.T, c *rafthttptest.Cluster, db []byte, cut func(*rafthttptest.Cluster)) {
	dir := c.Member(2).SnapDir()
	c.SetBandwidth(1, 2, 256<<10) // ~3s for the whole DB
	m := newSnapMessage(1, 2, db)
	start := time.Now()
	c.Member(1).Transport().SendSnapshot(m)
	var received int64
	rafthttptest.WaitFor(t, 10*time.Second, "transfer under way", func() bool {
		_, _, _, received = snapFiles(t, dir)
		return received >= 384<<10
	})
	cut(c)
	cutAt := time.Now()
	if waitNotify(t, m, 5*time.Second) {
		t.Fatal("CloseNotify reported success for a cut transfer")
	}
	notified := time.Since(cutAt)
	rafthttptest.WaitFor(t, 5*time.Second, "ReportSnapshot(Failure)", func() bool {
		return hasReport(c.Member(1).Recorder(), 2, raft.SnapshotFailure)
	})
	// What arrived stays, for the next attempt to resume from, in at
	// most one partial file that is never taken for a whole DB.
	cleaned := rafthttptest.WaitFor(t, 5*time.Second, "no DB and at most one partial file", func() bool {
		dbs, tmps, partials, _ := snapFiles(t, dir)
		return len(dbs) == 0 && len(tmps) == 0 && len(partials) <= 1
	})
	t.Logf("cut %v into the transfer (%d of %d bytes stored): CloseNotify(false) after %v, "+
		"cleaned up %v later", cutAt.Sub(start), received, len(db), notified, cleaned)
	if n := countSnaps(c.Member(2).Recorder(), 1); n != 0 {
		t.Fatalf("receiver's raft processed %d MsgSnap of a cut transfer", n)
	}
}

// retrySnapshot heals the cluster and sends db again: it must arrive
// whole.
func retrySnapshot(t *testing.T, c *rafthttptest.Cluster, db []byte) {
	t.Helper()
	c.HealAll()
	m := newSnapMessage(1, 2, db)
	start := time.Now()
	c.Member(1).Transport().SendSnapshot(m)
	if !waitNotify(t, m, 10*time.Second) {
		t.Fatal("retry after heal failed")
	}
	t.Logf("retry after heal succeeded in %v", time.Since(start))
	rafthttptest.WaitFor(t, 5*time.Second, "ReportSnapshot(Finish)", func() bool {
		return hasReport(c.Member(1).Recorder(), 2, raft.SnapshotFinish)
	})
	dir := c.Member(2).SnapDir()
	dbs, tmps, partials, _ := snapFiles(t, dir)
	if len(dbs) != 1 || len(tmps) != 0 || len(partials) != 0 {
		t.Fatalf("receiver's snapshot dir holds %v, %v and %v, want one .snap.db", dbs, tmps, partials)
	}
	got, err := os.ReadFile(filepath.Join(dir, dbs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, db) {
		t.Fatalf("stored snapshot differs from the one sent (%d vs %d bytes)", len(got), len(db))
	}
	if n := countSnaps(c.Member(2).Recorder(), 1); n != 1 {
		t.Fatalf("receiver's raft processed %d MsgSnap, want 1", n)
	}
}

// TestSlowSnapshotReceiverDoesNotStallOthers sends a snapshot over a
// bandwidth-capped link to member 2 while member 1 sends a heartbeat
// every 10ms to member 3: member 3 must keep receiving them as before.
func TestSlowSnapshotReceiverDoesNotStallOthers(t *testing.T) {
	rafts := make(map[types.ID]*timedRaft)
	c := rafthttptest.NewCluster(t, 3, rafthttptest.WithRaft(func(id types.ID) rafthttp.Raft {
		rafts[id] = newTimedRaft()
		return rafts[id]
	}))
	c.WaitAllStreams(t, 5*time.Second)
	c.SetBandwidth(1, 2, 256<<10)
	p := &pacer{c: c}
	base := p.run(100, nil)
	m := newSnapMessage(1, 2, randomDB(1<<20))
	c.Member(1).Transport().SendSnapshot(m)
	during := p.run(-1, m.CloseNotify())
	if !during.snapOK {
		t.Fatal("snapshot to the slow member failed")
	}
	rafthttptest.WaitFor(t, 5*time.Second, "every heartbeat to 3 delivered", func() bool {
		return len(rafts[3].arrivalsFrom(1)) >= int(p.sent)
	})
	arrivals := rafts[3].arrivalsFrom(1)
	b, d := base.stats(arrivals), during.stats(arrivals)
	t.Logf("member 3 before the snapshot: %v", b)
	t.Logf("member 3 during the %v snapshot to 2: %v", during.end.Sub(during.start), d)
	if during.end.Sub(during.start) < time.Second {
		t.Fatalf("snapshot took %v; too fast to show anything", during.end.Sub(during.start))
	}
	// Generous margins: the race detector and a busy machine can pause
	// any goroutine for a while, before and during the snapshot alike.
	bound := max(300*time.Millisecond, 3*b.maxGap, 3*b.maxLatency)
	if d.rate < 0.7*b.rate || d.maxGap > bound || d.maxLatency > bound {
		t.Errorf("member 3 stalled during the snapshot: %v (before: %v)", d, b)
	}
}

// pacer sends member 1's heartbeats to members 3 and 2 every 10ms; the
// ones to 3 carry increasing markers.
type pacer struct {
	c      *rafthttptest.Cluster
	sent   uint64
	sentAt []time.Time // by marker - 1
}

// window is one run of the pacer.
type window struct {
	p           *pacer
	start, end  time.Time
	first, last uint64 // markers sent in the window
	snapOK      bool
}

// run sends n heartbeats, or, if n < 0, until done yields a value.
func (p *pacer) run(n int, done <-chan bool) window {
	w := window{p: p, start: time.Now(), first: p.sent + 1}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
loop:
	for i := 0; n < 0 || i < n; i++ {
		select {
		case <-tick.C:
		case w.snapOK = <-done:
			break loop
		}
		p.sent++
		p.sentAt = append(p.sentAt, time.Now())
		p.c.Member(1).Transport().Send([]*raftpb.Message{
			newMsg(raftpb.MsgHeartbeat, 1, 3, p.sent), newMsg(raftpb.MsgHeartbeat, 1, 2, 0),
		})
	}
	w.end, w.last = time.Now(), p.sent
	return w
}

// flowStats describe the heartbeats of one window as member 3 saw them.
type flowStats struct {
	sent, delivered int
	rate            float64 // delivered per second of window
	maxGap          time.Duration
	maxLatency      time.Duration
}

func (s flowStats) String() string {
	return fmt.Sprintf("%d/%d delivered, %.0f msg/s, max gap %v, max latency %v",
		s.delivered, s.sent, s.rate, s.maxGap.Round(time.Millisecond), s.maxLatency.Round(time.Millisecond))
}

// stats summarises the arrivals of the window's markers.
func (w window) stats(arrivals []arrival) flowStats {
	s := flowStats{sent: int(w.last + 1 - w.first)}
	var prev time.Time
	for _, a := range arrivals {
		if a.marker < w.first || a.marker > w.last {
			continue
		}
		s.delivered++
		s.maxLatency = max(s.maxLatency, a.at.Sub(w.p.sentAt[a.marker-1]))
		if !prev.IsZero() {
			s.maxGap = max(s.maxGap, a.at.Sub(prev))
		}
		prev = a.at
	}
	s.rate = float64(s.delivered) / w.end.Sub(w.start).Seconds()
	return s
}
