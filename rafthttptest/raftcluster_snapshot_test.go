package rafthttptest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/types"
)

// catchUpFromSnapshot stops a follower, has the cluster move on and the
// leader compact its log, restarts the follower and returns it once the
// leader must send it a snapshot: the caller injects faults, then waits
// for convergence. want is the applied data so far.
func catchUpFromSnapshot(t *testing.T, rc *RaftCluster, before func(lead, follower types.ID)) (lead, follower types.ID, want []string) {
	t.Helper()
	lead = rc.WaitLeader(t, 10*time.Second)
	follower = lead%3 + 1
	want = proposeAll(t, rc, "a", 5, lead)
	rc.WaitConverged(t, 10*time.Second)
	rc.StopNode(follower)
	want = append(want, proposeAll(t, rc, "b", 5, lead)...)
	if err := rc.Compact(lead); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(lead, follower)
	}
	rc.RestartNode(follower)
	return lead, follower, want
}

// A follower that missed entries the leader has compacted away catches up
// from the leader's snapshot, whose database (WithSnapshotDB) lands in
// its member's SnapDir.
func TestRaftClusterCatchesUpFromSnapshotDB(t *testing.T) {
	db := bytes.Repeat([]byte("snapshot database "), 1<<15)
	rc := NewRaftCluster(t, 3, WithSnapshotDB(func(uint64) (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(db)), int64(len(db)), nil
	}))
	_, follower, want := catchUpFromSnapshot(t, rc, nil)
	rc.WaitConverged(t, 20*time.Second)
	checkApplied(t, rc, want, 1, 2, 3)
	got := snapshotDBSum(t, rc.Cluster().Member(follower).SnapDir())
	if got != sha256.Sum256(db) {
		t.Errorf("follower's snapshot DB differs from the leader's")
	}
}

// snapshotDBSum is the SHA-256 of the only snapshot DB in dir.
func snapshotDBSum(t *testing.T, dir string) [sha256.Size]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.snap.db"))
	if err != nil || len(names) != 1 {
		t.Fatalf("snapshot DBs in %s: %v (%v), want one", dir, names, err)
	}
	return FileSHA256(t, names[0])
}

// The applied data survives its encoding in a raft snapshot, and
// malformed data is refused rather than trusted.
func TestRaftClusterSnapshotData(t *testing.T) {
	in := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{7}, 300)}
	out, err := decodeApplied(encodeApplied(in))
	if err != nil || fmt.Sprint(out) != fmt.Sprint(in) {
		t.Errorf("round trip: %v, %v", out, err)
	}
	for _, bad := range [][]byte{{0x80}, {5, 'a'}} {
		if _, err := decodeApplied(bad); err == nil {
			t.Errorf("decodeApplied(%x) accepted", bad)
		}
	}
}

// Snapshot Data comes from a peer: decoding it never panics, and what it
// accepts survives encoding again.
func FuzzRaftClusterSnapshotData(f *testing.F) {
	f.Add(encodeApplied([][]byte{[]byte("a"), {}, []byte("bc")}))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		applied, err := decodeApplied(data)
		if err != nil {
			return
		}
		again, err := decodeApplied(encodeApplied(applied))
		if err != nil || fmt.Sprint(again) != fmt.Sprint(applied) {
			t.Errorf("decodeApplied(%x) = %q, which encodes to %q, %v", data, applied, again, err)
		}
	})
}
