package rafthttptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// Snapshots in a RaftCluster. A node's state machine (the applied data)
// travels in the raft snapshot's Data; with WithSnapshotDB, each snapshot
// also carries a database the caller supplies (a large file, say), sent
// with Transport.SendSnapshot as an etcd server sends its DB and saved by
// the receiving member's Snapshotter in its SnapDir.

// SnapshotDB opens the database of the snapshot at index and returns it
// with its size in bytes. It is called once per send attempt; the
// Transport closes what it returns.
type SnapshotDB func(index uint64) (io.ReadCloser, int64, error)

// WithSnapshotDB makes every MsgSnap a node sends carry the database db
// returns, through Transport.SendSnapshot. Without it a MsgSnap goes
// through Transport.Send with no database.
func WithSnapshotDB(db SnapshotDB) RaftOption {
	return func(c *raftConfig) { c.snapshotDB = db }
}

// errBadSnapshotData is returned for raft snapshot Data that RaftCluster
// did not write.
var errBadSnapshotData = errors.New("rafthttptest: malformed snapshot data")

// Compact takes a snapshot of node id's state machine at its applied
// index and discards its log up to there, so that a follower further
// behind can only catch up from that snapshot.
func (rc *RaftCluster) Compact(id types.ID) error {
	n := rc.node(id)
	n.mu.Lock()
	index, data, cs := n.appliedIndex, encodeApplied(n.applied), proto.CloneOf(n.confState)
	n.mu.Unlock()
	if _, err := n.storage.CreateSnapshot(index, cs, data); err != nil {
		return fmt.Errorf("rafthttptest: snapshot of node %s at %d: %w", id, index, err)
	}
	return n.storage.Compact(index)
}

// installSnapshot makes s, received from the leader, the node's state.
func (n *raftNode) installSnapshot(s *raftpb.Snapshot) {
	if err := n.storage.ApplySnapshot(s); err != nil {
		n.rc.tb.Errorf("rafthttptest: node %s: apply snapshot: %v", n.id, err)
		return
	}
	n.restore(s)
}

// restore resets the state machine to snapshot s.
func (n *raftNode) restore(s *raftpb.Snapshot) {
	applied, err := decodeApplied(s.GetData())
	if err != nil {
		n.rc.tb.Errorf("rafthttptest: node %s: snapshot at %d: %v", n.id, s.GetMetadata().GetIndex(), err)
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.applied, n.appliedIndex = applied, s.GetMetadata().GetIndex()
	if cs := s.GetMetadata().GetConfState(); cs != nil {
		n.confState = proto.CloneOf(cs)
	}
}

// restoreFromStorage loads the snapshot a restarted node's storage holds.
func (n *raftNode) restoreFromStorage() {
	if s, err := n.storage.Snapshot(); err == nil && !raft.IsEmptySnap(s) {
		n.restore(s)
	}
}

// sendAll hands msgs to tr: MsgSnaps with a database through
// SendSnapshot when WithSnapshotDB is set, everything else through Send.
func (n *raftNode) sendAll(tr transportSender, node raft.Node, msgs []*raftpb.Message) {
	db := n.rc.cfg.snapshotDB
	rest := msgs[:0:0]
	for _, m := range msgs {
		if db == nil || m.GetType() != raftpb.MsgSnap {
			rest = append(rest, m)
			continue
		}
		rc, size, err := db(m.GetSnapshot().GetMetadata().GetIndex())
		if err != nil {
			n.rc.tb.Logf("rafthttptest: node %s: open snapshot DB: %v", n.id, err)
			node.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
			continue
		}
		tr.SendSnapshot(snap.NewMessage(m, rc, size))
	}
	tr.Send(rest)
}

// transportSender is what sendAll needs of a Transport.
type transportSender interface {
	Send([]*raftpb.Message)
	SendSnapshot(*snap.Message)
}

// encodeApplied writes the applied data as length-prefixed records.
func encodeApplied(applied [][]byte) []byte {
	var out []byte
	for _, d := range applied {
		out = binary.AppendUvarint(out, uint64(len(d)))
		out = append(out, d...)
	}
	return out
}

// decodeApplied reads what encodeApplied wrote.
func decodeApplied(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		l, k := binary.Uvarint(data)
		if k <= 0 || l > uint64(len(data)-k) {
			return nil, errBadSnapshotData
		}
		out = append(out, append([]byte(nil), data[k:k+int(l)]...))
		data = data[k+int(l):]
	}
	return out, nil
}
