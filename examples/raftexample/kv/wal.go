package kv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// File names inside the WAL's directory.
const (
	walFileName = "raft.wal"
	walTmpName  = "raft.wal.tmp"
)

// ErrCorrupt is wrapped by OpenWAL when the log is damaged somewhere other
// than its last frame, which a crash cannot explain.
var ErrCorrupt = errors.New("kv: write-ahead log is corrupt")

// WAL is an append-only write-ahead log of raft state in one file. Every
// Save writes one frame (see walframe.go) and fsyncs it before returning,
// so a crash can only damage the last frame, which OpenWAL then drops.
// SaveSnapshot replaces the whole file by one that starts at the snapshot,
// which is how the log is compacted.
//
// A WAL is used by one goroutine. After a failed write every method returns
// that error: the file may end in a partial frame that only a restart
// (OpenWAL) can cut off.
type WAL struct {
	dir    string
	f      *os.File          // open for appending
	hs     *raftpb.HardState // last hard state written; nil before any
	broken error             // first write error; non-nil makes the WAL unusable
}

// WALState is what OpenWAL recovered.
type WALState struct {
	// Snapshot is the metadata of the snapshot the log starts at, or nil.
	Snapshot *raftpb.SnapshotMetadata
	// HardState is the last hard state saved, or nil.
	HardState *raftpb.HardState
	// Entries follow the snapshot, contiguous, later saves having
	// replaced conflicting suffixes.
	Entries []*raftpb.Entry
	// TruncatedBytes counts the bytes of a torn last frame that were cut
	// off.
	TruncatedBytes int64
}

// Empty reports whether nothing was ever saved.
func (s *WALState) Empty() bool {
	return s.Snapshot == nil && s.HardState == nil && len(s.Entries) == 0
}

// OpenWAL opens (creating if needed) the log in dir and replays it. A torn
// last frame is truncated away; any other damage returns an error wrapping
// ErrCorrupt.
func OpenWAL(dir string) (*WAL, *WALState, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("kv: creating WAL directory: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, walTmpName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("kv: removing unfinished WAL rewrite: %w", err)
	}
	path := filepath.Join(dir, walFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("kv: opening WAL: %w", err)
	}
	st, err := recoverFile(f)
	if err == nil {
		err = syncDir(dir) // the file may be new
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return &WAL{dir: dir, f: f, hs: st.HardState}, st, nil
}

// recoverFile replays f, cuts off a torn tail and leaves the offset at the
// end of the last good frame.
func recoverFile(f *os.File) (*WALState, error) {
	st, good, err := replay(f)
	if err != nil {
		return nil, fmt.Errorf("kv: replaying %s: %w", f.Name(), err)
	}
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("kv: inspecting WAL: %w", err)
	}
	if size := info.Size(); good < size {
		if err := f.Truncate(good); err != nil {
			return nil, fmt.Errorf("kv: truncating torn WAL tail: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("kv: syncing WAL: %w", err)
		}
		st.TruncatedBytes = size - good
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		return nil, fmt.Errorf("kv: seeking WAL: %w", err)
	}
	return st, nil
}

// Save appends hs (unless empty) and ents as one frame and fsyncs. Entries
// whose index is already in the log replace it from that index on.
func (w *WAL) Save(hs *raftpb.HardState, ents []*raftpb.Entry) error {
	if w.broken != nil {
		return w.broken
	}
	if raft.IsEmptyHardState(hs) {
		hs = nil
	}
	if hs == nil && len(ents) == 0 {
		return nil
	}
	buf, err := encodeFrames(nil, hs, ents)
	if err != nil {
		return err
	}
	if _, err := w.f.Write(buf); err != nil {
		return w.fail(fmt.Errorf("kv: writing WAL: %w", err))
	}
	if err := w.f.Sync(); err != nil {
		return w.fail(fmt.Errorf("kv: syncing WAL: %w", err))
	}
	if hs != nil {
		w.hs = proto.CloneOf(hs)
	}
	return nil
}

// SaveSnapshot atomically replaces the log by one holding the snapshot
// metadata, hs (or, if empty, the last hard state saved) and ents, which
// must follow the snapshot. The snapshot's data must already be durable.
func (w *WAL) SaveSnapshot(meta *raftpb.SnapshotMetadata, hs *raftpb.HardState, ents []*raftpb.Entry) error {
	if w.broken != nil {
		return w.broken
	}
	if raft.IsEmptyHardState(hs) {
		hs = w.hs
	}
	buf, err := encodeFrames(meta, hs, ents)
	if err != nil {
		return err
	}
	tmp := filepath.Join(w.dir, walTmpName)
	f, err := writeSynced(tmp, buf)
	if err != nil {
		return err // the old log is untouched
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, walFileName)); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("kv: replacing WAL: %w", err)
	}
	old := w.f
	w.f = f
	if err := old.Close(); err != nil {
		return w.fail(fmt.Errorf("kv: closing replaced WAL: %w", err))
	}
	if err := syncDir(w.dir); err != nil {
		return w.fail(err)
	}
	if hs != nil {
		w.hs = proto.CloneOf(hs)
	}
	return nil
}

// Close closes the file. It does not sync: every Save already did.
func (w *WAL) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if w.broken == nil {
		w.broken = errors.New("kv: WAL is closed")
	}
	return err
}

// fail records the first write error; the WAL refuses writes from then on.
func (w *WAL) fail(err error) error {
	if w.broken == nil {
		w.broken = err
	}
	return err
}

// writeSynced creates path holding data, fsyncs it and returns it open
// for appending at its end. On error the file is removed.
func writeSynced(path string, data []byte) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kv: creating %s: %w", path, err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("kv: writing %s: %w", path, err)
	}
	return f, nil
}

// syncDir makes renames and creations in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("kv: opening %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("kv: syncing %s: %w", dir, err)
	}
	return nil
}
