package kv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func ent(term, index uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(index), Data: []byte(data)}
}

func ents(term, from, to uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, ent(term, i, "x"))
	}
	return out
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

// openT opens the WAL in dir and registers its Close.
func openT(t *testing.T, dir string) (*WAL, *WALState) {
	t.Helper()
	w, st, err := OpenWAL(dir)
	if err != nil {
		t.Fatalf("OpenWAL: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, st
}

func save(t *testing.T, w *WAL, hs *raftpb.HardState, es []*raftpb.Entry) {
	t.Helper()
	if err := w.Save(hs, es); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// indexes lists the index and term of each entry, for comparisons.
func indexes(es []*raftpb.Entry) [][2]uint64 {
	out := [][2]uint64{}
	for _, e := range es {
		out = append(out, [2]uint64{e.GetIndex(), e.GetTerm()})
	}
	return out
}

func wantEntries(t *testing.T, got []*raftpb.Entry, want []*raftpb.Entry) {
	t.Helper()
	g, w := indexes(got), indexes(want)
	if len(g) != len(w) {
		t.Fatalf("entries (index, term) = %v, want %v", g, w)
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("entries (index, term) = %v, want %v", g, w)
		}
	}
}

func TestWALEmpty(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string) error
	}{
		{name: "no file", setup: func(string) error { return nil }},
		{name: "zero-length file", setup: func(dir string) error {
			return os.WriteFile(filepath.Join(dir, walFileName), nil, 0o600)
		}},
		{name: "only zeros", setup: func(dir string) error {
			return os.WriteFile(filepath.Join(dir, walFileName), make([]byte, 100), 0o600)
		}},
		{name: "leftover rewrite", setup: func(dir string) error {
			return os.WriteFile(filepath.Join(dir, walTmpName), []byte("partial"), 0o600)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tt.setup(dir); err != nil {
				t.Fatal(err)
			}
			_, st := openT(t, dir)
			if !st.Empty() {
				t.Errorf("state = %+v, want empty", st)
			}
			if _, err := os.Stat(filepath.Join(dir, walTmpName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("leftover %s: %v, want removed", walTmpName, err)
			}
		})
	}
}

func TestWALReplay(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir)
	save(t, w, hardState(1, 1, 0), ents(1, 1, 3))
	save(t, w, hardState(1, 1, 3), nil)
	save(t, w, nil, ents(1, 4, 5))
	// A new leader overwrites entries 4 and 5 with its own.
	save(t, w, hardState(2, 2, 3), []*raftpb.Entry{ent(2, 4, "y")})
	save(t, w, nil, nil) // writes nothing
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, st := openT(t, dir)
	wantEntries(t, st.Entries, append(ents(1, 1, 3), ent(2, 4, "y")))
	if !proto.Equal(st.HardState, hardState(2, 2, 3)) {
		t.Errorf("hard state = %v, want term 2 vote 2 commit 3", st.HardState)
	}
	if st.Snapshot != nil || st.TruncatedBytes != 0 {
		t.Errorf("snapshot %v, truncated %d; want none", st.Snapshot, st.TruncatedBytes)
	}
}

func TestWALReplayAfterSnapshot(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir)
	save(t, w, hardState(1, 1, 8), ents(1, 1, 10))
	meta := &raftpb.SnapshotMetadata{
		Index: proto.Uint64(8), Term: proto.Uint64(1),
		ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
	}
	if err := w.SaveSnapshot(meta, nil, ents(1, 9, 10)); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	save(t, w, hardState(1, 1, 11), ents(1, 11, 11))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, st := openT(t, dir)
	if !proto.Equal(st.Snapshot, meta) {
		t.Errorf("snapshot = %v, want %v", st.Snapshot, meta)
	}
	wantEntries(t, st.Entries, ents(1, 9, 11))
	if st.HardState.GetCommit() != 11 {
		t.Errorf("commit = %d, want 11", st.HardState.GetCommit())
	}
	// A received snapshot replaces everything, keeping the last hard state.
	w2, _ := openT(t, dir)
	meta2 := &raftpb.SnapshotMetadata{Index: proto.Uint64(50), Term: proto.Uint64(3)}
	if err := w2.SaveSnapshot(meta2, nil, nil); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	_ = w2.Close()
	_, st = openT(t, dir)
	if st.Snapshot.GetIndex() != 50 || len(st.Entries) != 0 || st.HardState.GetCommit() != 11 {
		t.Errorf("after second snapshot: snapshot %v, %d entries, hard state %v", st.Snapshot, len(st.Entries), st.HardState)
	}
}

// writeThree saves three frames and returns the file size after each.
func writeThree(t *testing.T, dir string) []int64 {
	t.Helper()
	w, _ := openT(t, dir)
	var sizes []int64
	for i := uint64(1); i <= 3; i++ {
		save(t, w, hardState(1, 1, i-1), ents(1, i, i))
		info, err := os.Stat(filepath.Join(dir, walFileName))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, info.Size())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return sizes
}

// damagedThree saves three frames in a new directory, passes the file and
// the size after each frame to damage, writes back what it returns and
// returns the directory.
func damagedThree(t *testing.T, damage func(b []byte, sizes []int64) []byte) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, walFileName)
	sizes := writeThree(t, dir)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, damage(b, sizes), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestWALTornTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte, sizes []int64) []byte
	}{
		{name: "cut inside header", damage: func(b []byte, s []int64) []byte { return b[:s[1]+3] }},
		{name: "cut inside payload", damage: func(b []byte, s []int64) []byte { return b[:len(b)-2] }},
		{name: "last frame zeroed", damage: func(b []byte, s []int64) []byte {
			clear(b[s[1]:])
			return b
		}},
		{name: "last frame bad checksum", damage: func(b []byte, s []int64) []byte {
			b[len(b)-1] ^= 0xff
			return b
		}},
		{name: "garbage length", damage: func(b []byte, s []int64) []byte {
			copy(b[s[1]:], []byte{0xff, 0xff, 0xff, 0x7f})
			return b
		}},
		{name: "zeros after last frame", damage: func(b []byte, s []int64) []byte {
			return append(b[:s[1]], make([]byte, 4096)...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := damagedThree(t, tt.damage)
			w, st := openT(t, dir)
			wantEntries(t, st.Entries, ents(1, 1, 2))
			if st.TruncatedBytes == 0 {
				t.Errorf("TruncatedBytes = 0, want the torn frame's size")
			}
			// The log continues cleanly after the truncation point.
			save(t, w, hardState(1, 1, 2), ents(2, 3, 3))
			_ = w.Close()
			_, st = openT(t, dir)
			wantEntries(t, st.Entries, append(ents(1, 1, 2), ent(2, 3, "x")))
			if st.TruncatedBytes != 0 {
				t.Errorf("second open truncated %d bytes, want 0", st.TruncatedBytes)
			}
		})
	}
}

func TestWALCorruptMiddleFrame(t *testing.T) {
	tests := []struct {
		name string
		at   func(sizes []int64) int64
	}{
		{name: "first frame payload", at: func(s []int64) int64 { return s[0] - 1 }},
		{name: "first frame checksum", at: func(s []int64) int64 { return 5 }},
		{name: "second frame payload", at: func(s []int64) int64 { return s[1] - 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var damaged []byte
			dir := damagedThree(t, func(b []byte, s []int64) []byte {
				b[tt.at(s)] ^= 0x01
				damaged = b
				return b
			})
			w, _, err := OpenWAL(dir)
			if !errors.Is(err, ErrCorrupt) {
				if w != nil {
					_ = w.Close()
				}
				t.Fatalf("OpenWAL error = %v, want ErrCorrupt", err)
			}
			after, err := os.ReadFile(filepath.Join(dir, walFileName))
			if err != nil || len(after) != len(damaged) {
				t.Errorf("file changed to %d bytes (err %v); a corrupt log must be left alone", len(after), err)
			}
		})
	}
}

func TestWALGapIsCorrupt(t *testing.T) {
	dir := t.TempDir()
	frames, err := encodeFrames(nil, nil, []*raftpb.Entry{ent(1, 1, ""), ent(1, 3, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, walFileName), frames, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenWAL(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenWAL error = %v, want ErrCorrupt", err)
	}
}

func TestWALLargeSaveSplitsFrames(t *testing.T) {
	dir := t.TempDir()
	w, _ := openT(t, dir)
	big := make([]byte, MaxValueBytes)
	var es []*raftpb.Entry
	for i := uint64(1); i <= 70; i++ { // 70 MiB > maxFrameBytes
		es = append(es, &raftpb.Entry{Term: proto.Uint64(1), Index: proto.Uint64(i), Data: big})
	}
	save(t, w, hardState(1, 1, 70), es)
	_ = w.Close()
	_, st := openT(t, dir)
	if len(st.Entries) != 70 || st.HardState.GetCommit() != 70 {
		t.Fatalf("got %d entries, commit %d; want 70, 70", len(st.Entries), st.HardState.GetCommit())
	}
}

func TestWALRefusesWritesAfterClose(t *testing.T) {
	w, _ := openT(t, t.TempDir())
	_ = w.Close()
	if err := w.Save(hardState(1, 1, 0), nil); err == nil {
		t.Fatal("Save after Close succeeded")
	}
}
