package interop

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/rafthttptest"
)

// snapshotDBSize is the size of the database sent in each direction. It
// equals etcd's 64 MiB envelope limit, which must not apply to DB bytes.
const snapshotDBSize = 64 << 20

// onceCloser closes a file once and returns that result on every later
// Close. etcd's Transport closes a snapshot's ReadCloser twice on success:
// net/http closes the request body, then CloseWithError closes it again.
// etcd's server passes an io.Pipe reader, whose Close is idempotent; a bare
// *os.File would fail the second Close and turn CloseNotify false.
type onceCloser struct {
	*os.File
	once sync.Once
	err  error
}

// Close closes the file on the first call only.
func (c *onceCloser) Close() error {
	c.once.Do(func() { c.err = c.File.Close() })
	return c.err
}

// snapMessage builds the MsgSnap that announces a DB at index.
func snapMessage(from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(from), To: proto.Uint64(to), Term: proto.Uint64(5),
		Snapshot: &raftpb.Snapshot{
			Data: []byte(`{"members":[1,2]}`),
			Metadata: &raftpb.SnapshotMetadata{
				Index: proto.Uint64(index), Term: proto.Uint64(5),
				ConfState: &raftpb.ConfState{Voters: []uint64{from, to}},
			},
		},
	}
}

// TestSnapshotTransfer sends a 64 MiB DB with SendSnapshot both ways. The
// receiver must save a byte-identical <snapdir>/%016x.snap.db, process the
// MsgSnap, and answer 204; the sender must see CloseNotify true and report
// SnapshotFinish to its raft.
func TestSnapshotTransfer(t *testing.T) {
	ours, etcd := startConnectedPair(t)
	dbPath, want := rafthttptest.WriteDBFile(t, t.TempDir(), snapshotDBSize)
	for i, dir := range directions(ours, etcd) {
		t.Run(dir.name, func(t *testing.T) {
			index := uint64(0x1234_5600 + i)
			m := snapMessage(dir.from.id, dir.to.id, index)
			f, err := os.Open(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			done := dir.from.tr.sendSnapshot(m, &onceCloser{File: f}, snapshotDBSize)
			select {
			case ok := <-done:
				if !ok {
					t.Fatal("CloseNotify reported failure")
				}
			case <-time.After(60 * time.Second):
				t.Fatal("snapshot not sent within 60s")
			}
			t.Logf("sent %d MiB in %v", snapshotDBSize>>20, time.Since(start).Round(time.Millisecond))

			got := dir.to.raft.receive(t, 5*time.Second)
			if !proto.Equal(got, m) {
				t.Errorf("%s processed\n%v\nwant\n%v", dir.to.name, got, m)
			}
			saved := filepath.Join(dir.to.snapDir, fmt.Sprintf("%016x.snap.db", index))
			if sum := rafthttptest.FileSHA256(t, saved); !bytes.Equal(sum[:], want[:]) {
				t.Errorf("%s saved a DB with sha256 %x, want %x", dir.to.name, sum, want)
			}
			rep := dir.from.raft.awaitSnapReport(t, 5*time.Second)
			if rep != (snapReport{id: dir.to.id, status: raft.SnapshotFinish}) {
				t.Errorf("%s reported %+v, want Finish for %d", dir.from.name, rep, dir.to.id)
			}
			if n := dir.to.tap.count(http.MethodPost, pathSnapshot, http.StatusNoContent); n != 1 {
				t.Errorf("%s answered %d snapshot POSTs with 204, want 1", dir.to.name, n)
			}
		})
	}
}
