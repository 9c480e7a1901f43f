package rafthttptest

import (
	"bytes"
	"io"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// snapshotOf returns a snapshot message from → to carrying db.
func snapshotOf(from, to types.ID, db []byte) *snap.Message {
	m := &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(uint64(from)), To: proto.Uint64(uint64(to)),
		Term: proto.Uint64(1),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
			Index: proto.Uint64(10), Term: proto.Uint64(1),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}},
		}},
	}
	return snap.NewMessage(m, io.NopCloser(bytes.NewReader(db)), int64(len(db)))
}

// snapshotOutcome waits for m's CloseNotify.
func snapshotOutcome(t *testing.T, m *snap.Message) bool {
	t.Helper()
	select {
	case ok := <-m.CloseNotify():
		return ok
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot outcome")
		return false
	}
}

// A cut sized for a snapshot body resets the snapshot's POST, not the
// streams that carry heartbeats on the same link.
func TestCutAfterHitsTheSnapshotNotTheStreams(t *testing.T) {
	c := NewCluster(t, 2)
	c.WaitAllStreams(t, 5*time.Second)
	// Member 2 reads 1 → 2 on its streams; a reset one would change this.
	since := c.Member(2).Transport().ActiveSince(1)
	db := pattern(3<<20, 20)
	cut := c.CutAfter(1, 2, 1<<20)
	for i := range 20 { // heartbeats on the streams of the cut link
		c.Member(1).Transport().Send([]*raftpb.Message{heartbeat(1, 2, uint64(i))})
	}
	m := snapshotOf(1, 2, db)
	c.Member(1).Transport().SendSnapshot(m)
	if snapshotOutcome(t, m) {
		t.Fatal("a snapshot cut at a third of its size succeeded")
	}
	waitClosed(t, cut, "the cut's channel")
	c.Member(1).Transport().Send([]*raftpb.Message{heartbeat(1, 2, 99)})
	WaitFor(t, 5*time.Second, "21 heartbeats", func() bool { return receivedFrom(c, 2, 1) == 21 })
	if now := c.Member(2).Transport().ActiveSince(1); !now.Equal(since) {
		t.Fatalf("member 2's streams from 1 were re-established (active since %v, was %v)", now, since)
	}
	m = snapshotOf(1, 2, db)
	c.Member(1).Transport().SendSnapshot(m)
	if !snapshotOutcome(t, m) {
		t.Fatal("the snapshot failed again after the one-shot cut")
	}
}

// A stall shorter than the read timeout delays delivery without breaking
// the streams.
func TestStallDelaysWithoutBreakingStreams(t *testing.T) {
	c := NewCluster(t, 2)
	c.WaitAllStreams(t, 5*time.Second)
	since := c.Member(2).Transport().ActiveSince(1)
	const stall = 500 * time.Millisecond
	called := time.Now()
	c.Stall(1, 2, stall)
	c.Member(1).Transport().Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	took := WaitFor(t, 5*time.Second, "delivery", func() bool { return receivedFrom(c, 2, 1) == 1 })
	if d := time.Since(called); d < stall {
		t.Fatalf("delivered %v into a %v stall", d, stall)
	}
	if now := c.Member(2).Transport().ActiveSince(1); !now.Equal(since) {
		t.Fatalf("member 2's streams from 1 were re-established during the stall")
	}
	t.Logf("delivered %v after the send (stall %v)", took, stall)
}
