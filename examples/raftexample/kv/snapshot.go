package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
)

// maybeSnapshot takes a snapshot once SnapshotCount entries were applied
// since the last one: the state goes to a DB file through the
// Snapshotter, the log is rewritten to start after it, and raft's
// in-memory log keeps CatchUpEntries entries for slow followers.
func (n *Node) maybeSnapshot() error {
	applied := n.applied.Load()
	if applied-n.snapIndex.Load() < n.cfg.SnapshotCount {
		return nil
	}
	written, err := n.ensureDB(applied)
	if err != nil {
		return err
	}
	s, err := n.storage.CreateSnapshot(applied, n.confState, nil)
	if err != nil {
		return fmt.Errorf("kv: creating snapshot %d: %w", applied, err)
	}
	ents, err := n.entriesAfter(applied)
	if err != nil {
		return err
	}
	if err := n.wal.SaveSnapshot(s.GetMetadata(), nil, ents); err != nil {
		return err
	}
	n.snapIndex.Store(applied)
	n.counters.snapshotsCreated.Add(1)
	n.metrics.snapshots.WithLabelValues("created").Inc()
	n.compact(applied)
	n.purgeDBFiles(applied)
	n.lg.Info("took snapshot", zap.Uint64("index", applied), zap.Int("bytes-written", written))
	return nil
}

// entriesAfter returns the stored entries after index i.
func (n *Node) entriesAfter(i uint64) ([]*raftpb.Entry, error) {
	last, err := n.storage.LastIndex()
	if err != nil || last <= i {
		return nil, err
	}
	ents, err := n.storage.Entries(i+1, last+1, math.MaxUint64)
	if err != nil {
		return nil, fmt.Errorf("kv: reading entries after %d: %w", i, err)
	}
	return ents, nil
}

// compact drops in-memory entries older than CatchUpEntries before index.
func (n *Node) compact(index uint64) {
	if index <= n.cfg.CatchUpEntries {
		return
	}
	err := n.storage.Compact(index - n.cfg.CatchUpEntries)
	if err != nil && !errors.Is(err, raft.ErrCompacted) {
		n.lg.Warn("failed to compact the in-memory log", zap.Error(err))
	}
}

// sendSnapshot sends a snapshot of the state as of now instead of raft's
// stored one, as etcd does: the stored snapshot may predate the
// recipient's own addition, and a member outside a snapshot's ConfState
// refuses it. The state goes to a DB file (reused if one exists for the
// applied index) that is streamed behind the message. The Transport
// reports the outcome to raft, failures included; a watcher counts the
// snapshots sent.
func (n *Node) sendSnapshot(m *raftpb.Message) {
	f, size, err := n.mergedSnapshot(m)
	if err != nil {
		n.lg.Warn("cannot send snapshot", zap.Uint64("to", m.GetTo()), zap.Error(err))
		n.raft.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		return
	}
	sm := snap.NewMessage(m, f, size)
	n.transport.SendSnapshot(sm)
	n.wg.Go(func() {
		select {
		case ok := <-sm.CloseNotify():
			n.snapshotSent(ok)
		case <-n.done:
		}
	})
}

// mergedSnapshot points m at a snapshot of the applied state and opens
// its DB file.
func (n *Node) mergedSnapshot(m *raftpb.Message) (*os.File, int64, error) {
	applied := n.applied.Load()
	term, err := n.storage.Term(applied)
	if err != nil {
		return nil, 0, fmt.Errorf("kv: term of applied entry %d: %w", applied, err)
	}
	if _, err := n.ensureDB(applied); err != nil {
		return nil, 0, err
	}
	m.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		Index: proto.Uint64(applied), Term: proto.Uint64(term), ConfState: proto.CloneOf(n.confState),
	}}
	return n.openDB(applied)
}

// ensureDB saves the state machine, as of the applied index, as the DB
// file of that index unless the file exists already. It returns how many
// bytes it wrote.
func (n *Node) ensureDB(applied uint64) (int, error) {
	if _, err := n.snapshotter.DBFilePath(applied); !errors.Is(err, snap.ErrNoDBSnapshot) {
		return 0, err // nil: the file is there
	}
	data := n.state.encodedState()
	if _, err := n.snapshotter.SaveDBFrom(bytes.NewReader(data), applied); err != nil {
		return 0, fmt.Errorf("kv: saving snapshot %d: %w", applied, err)
	}
	return len(data), nil
}

func (n *Node) snapshotSent(ok bool) {
	if !ok {
		return
	}
	n.counters.snapshotsSent.Add(1)
	n.metrics.snapshots.WithLabelValues("sent").Inc()
}

// installSnapshot adopts a snapshot received from the leader. The
// Transport already saved its DB file; the log is rewritten to start at
// it, then the state machine and raft's storage switch to it.
func (n *Node) installSnapshot(rd raft.Ready) error {
	meta := rd.Snapshot.GetMetadata()
	index := meta.GetIndex()
	s, size, err := n.loadDB(index)
	if err != nil {
		return err
	}
	if err := n.wal.SaveSnapshot(meta, rd.HardState, rd.Entries); err != nil {
		return err
	}
	if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
		return fmt.Errorf("kv: applying snapshot %d: %w", index, err)
	}
	n.state.replace(s)
	n.confState = proto.CloneOf(meta.GetConfState())
	n.applied.Store(index)
	n.snapIndex.Store(index)
	n.syncPeers()
	n.counters.snapshotsReceived.Add(1)
	n.counters.lastRecvBytes.Store(size)
	n.counters.lastRecvIndex.Store(index)
	n.metrics.snapshots.WithLabelValues("received").Inc()
	n.purgeDBFiles(index)
	n.lg.Info("installed snapshot", zap.Uint64("index", index), zap.Int64("bytes", size))
	return nil
}

// openDB opens the DB file of the snapshot at index and returns its size.
func (n *Node) openDB(index uint64) (*os.File, int64, error) {
	path, err := n.snapshotter.DBFilePath(index)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("kv: opening snapshot: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("kv: inspecting snapshot: %w", err)
	}
	return f, info.Size(), nil
}

// loadDB decodes the DB file of the snapshot at index.
func (n *Node) loadDB(index uint64) (*stateMachine, int64, error) {
	f, size, err := n.openDB(index)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	s, err := decodeState(f)
	if err != nil {
		return nil, 0, fmt.Errorf("kv: loading %s: %w", f.Name(), err)
	}
	return s, size, nil
}

// purgeDBFiles removes the DB files of snapshots before index. A file being
// sent stays readable until the send ends.
func (n *Node) purgeDBFiles(index uint64) {
	if err := n.snapshotter.ReleaseDBsBefore(index); err != nil {
		n.lg.Warn("failed to remove old snapshots", zap.Error(err))
	}
}
