package interop

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/rafthttptest"
)

// pathSnapshotOffer is where our sender asks a peer what it holds of a
// snapshot before it sends it (our snapshot extension, not etcd's).
const pathSnapshotOffer = "/raft/snapshot/offer"

// TestSnapshotExtensionFallsBackForEtcd sends a snapshot each way between
// our Transport and etcd's. Ours first asks etcd's handler for the offer
// path, which etcd answers 404; the snapshot then goes out exactly as
// etcd's own sender would send it, without any header of the extension,
// and arrives byte-identical. etcd's snapshot reaches ours as it always
// did: no offer, no extension, no partial file left behind.
func TestSnapshotExtensionFallsBackForEtcd(t *testing.T) {
	ours, etcd := startConnectedPair(t)
	const size = 4 << 20
	dbPath, want := rafthttptest.WriteDBFile(t, t.TempDir(), size)
	for i, dir := range directions(ours, etcd) {
		t.Run(dir.name, func(t *testing.T) {
			index := uint64(0x2000 + i)
			m := snapMessage(dir.from.id, dir.to.id, index)
			f, err := os.Open(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case ok := <-dir.from.tr.sendSnapshot(m, &onceCloser{File: f}, size):
				if !ok {
					t.Fatal("CloseNotify reported failure")
				}
			case <-time.After(60 * time.Second):
				t.Fatal("snapshot not sent within 60s")
			}
			if got := dir.to.raft.receive(t, 5*time.Second); !proto.Equal(got, m) {
				t.Errorf("%s processed %v, want %v", dir.to.name, got, m)
			}
			saved := filepath.Join(dir.to.snapDir, fmt.Sprintf("%016x.snap.db", index))
			if sum := rafthttptest.FileSHA256(t, saved); !bytes.Equal(sum[:], want[:]) {
				t.Errorf("%s saved a DB with sha256 %x, want %x", dir.to.name, sum, want)
			}
			checkNoExtension(t, dir.from, dir.to)
		})
	}
}

// checkNoExtension checks what to's tap saw of from's snapshot: an offer
// answered 404 by etcd (and none from etcd), then a POST without the
// extension's headers or a trailer, answered 204 and nothing else.
func checkNoExtension(t *testing.T, from, to *side) {
	t.Helper()
	offers := to.tap.matching(func(r *requestRecord) bool { return r.path == pathSnapshotOffer })
	switch {
	case from.name == "ours" && (len(offers) != 1 || offers[0].status != http.StatusNotFound):
		t.Errorf("etcd saw offers %+v, want one answered 404", offers)
	case from.name == "ours" && string(offers[0].body) != "404 page not found\n":
		t.Errorf("etcd answered the offer %q", offers[0].body)
	case from.name == "etcd" && len(offers) != 0:
		t.Errorf("ours saw %d offers from etcd", len(offers))
	}
	posts := to.tap.matching(func(r *requestRecord) bool { return r.path == pathSnapshot })
	if len(posts) != 1 || posts[0].status != http.StatusNoContent {
		t.Fatalf("%s saw snapshot POSTs %+v, want one answered 204", to.name, posts)
	}
	for k := range posts[0].header {
		if strings.HasPrefix(k, "X-Rafthttp") || k == "Trailer" {
			t.Errorf("%s's snapshot POST carried %s: %v", from.name, k, posts[0].header[k])
		}
	}
	for k := range posts[0].respHeader {
		if strings.HasPrefix(k, "X-Rafthttp") {
			t.Errorf("%s answered the snapshot with %s", to.name, k)
		}
	}
	if entries, _ := os.ReadDir(to.snapDir); len(entries) != 1 {
		t.Errorf("%s's snapshot dir holds %d files, want the DB only", to.name, len(entries))
	}
}
