package rafthttp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
)

// fuzzMaxPartials is the partial-file bound of the fuzzed receiver.
const fuzzMaxPartials = 2

// errFuzzCut stands for a connection cut after the body's bytes.
var errFuzzCut = errors.New("connection cut")

// FuzzSnapshotExtReceive sends extended snapshot POSTs with arbitrary
// size and offset headers, DB bytes, checksum trailer, and possibly a cut
// at the end. Whatever arrives: no panic; a 204 only for a DB whose
// SHA-256 is the trailer's, installed whole; a cut leaves at most the bytes
// sent, in at most fuzzMaxPartials files; nothing else is left behind.
func FuzzSnapshotExtReceive(f *testing.F) {
	f.Add("3", "0", []byte("abc"), hex.EncodeToString(sha256.New().Sum(nil)), false)
	sum := sha256.Sum256([]byte("abc"))
	f.Add("3", "0", []byte("abc"), hex.EncodeToString(sum[:]), false)
	f.Add("1000", "0", []byte("abc"), "", true)
	f.Add("3", "2", []byte("c"), "", false)
	f.Add("-1", "x", []byte(""), "zz", true)
	tm := fuzzStartPartialTransport(f)
	var index atomic.Uint64
	var maxSent atomic.Int64 // the largest DB body sent so far
	f.Fuzz(func(t *testing.T, size, offset string, db []byte, trailer string, cut bool) {
		i := index.Add(1)
		for n := int64(len(db)); n > maxSent.Load(); {
			maxSent.CompareAndSwap(maxSent.Load(), n)
		}
		rec := fuzzPostExt(t, tm, i, size, offset, db, trailer, cut)
		fuzzCheckExtOutcome(t, tm, i, rec.Code, db, trailer)
		fuzzCheckPartials(t, tm.tr.Snapshotter.Dir(), maxSent.Load())
	})
}

// fuzzStartPartialTransport is goldenStartTransport with a small bound on
// partial files.
func fuzzStartPartialTransport(tb testing.TB) *goldenMember {
	tb.Helper()
	r := &goldenRaft{}
	tr := &Transport{ID: 0xb, ClusterID: 0xc1, Raft: r, Snapshotter: snap.New(nil, tb.TempDir())}
	tr.Limits.MaxSnapshotPartials = fuzzMaxPartials
	if err := tr.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tr.Stop)
	return &goldenMember{tr: tr, raft: r, handler: tr.Handler()}
}

// fuzzPostExt posts an extended snapshot of index from member a.
func fuzzPostExt(t *testing.T, tm *goldenMember, index uint64, size, offset string, db []byte, trailer string, cut bool) *httptest.ResponseRecorder {
	m := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(0xa), To: proto.Uint64(0xb),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(1)}}}
	env, err := appendMessageFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = io.MultiReader(bytes.NewReader(env), bytes.NewReader(db))
	if cut {
		body = io.MultiReader(body, iotestErrReader{errFuzzCut})
	}
	req := httptest.NewRequest(http.MethodPost, RaftSnapshotPrefix, body)
	for k, v := range map[string]string{hdrServerFrom: "a", hdrServerVersion: defaultServerVersion,
		hdrMinClusterVersion: defaultMinClusterVersion, hdrClusterID: "c1", hdrSnapExt: snapExtVersion,
		hdrSnapSize: size, hdrSnapOffset: offset} {
		req.Header.Set(k, v)
	}
	req.Trailer = http.Header{http.CanonicalHeaderKey(hdrSnapSum): {trailer}}
	rec := httptest.NewRecorder()
	tm.handler.ServeHTTP(rec, req)
	return rec
}

// iotestErrReader fails every read with err.
type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// fuzzCheckExtOutcome checks the reply and the snapshot directory.
func fuzzCheckExtOutcome(t *testing.T, tm *goldenMember, index uint64, code int, db []byte, trailer string) {
	dir := tm.tr.Snapshotter.Dir()
	dbName := filepath.Join(dir, snapDBName(index))
	sum := sha256.Sum256(db)
	switch code {
	case http.StatusNoContent:
		if !strings.EqualFold(trailer, hex.EncodeToString(sum[:])) {
			t.Fatalf("204 for a DB whose sha256 %x is not the trailer's %q", sum, trailer)
		}
		got, err := os.ReadFile(dbName)
		if err != nil || !bytes.Equal(got, db) {
			t.Fatalf("204 but the installed DB is %d bytes (%v), want the %d sent", len(got), err, len(db))
		}
		os.Remove(dbName)
	case http.StatusBadRequest, http.StatusConflict, http.StatusInternalServerError:
		if _, err := os.Stat(dbName); err == nil {
			t.Fatalf("answer %d but a DB was installed", code)
		}
	default:
		t.Fatalf("unexpected answer %d", code)
	}
}

// fuzzCheckPartials checks that at most fuzzMaxPartials partial files
// exist, none larger than the largest body sent, and nothing else.
func fuzzCheckPartials(t *testing.T, dir string, maxBody int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".snap.partial") {
			t.Fatalf("unexpected file %s left in the snapshot dir", e.Name())
		}
		if info, err := e.Info(); err == nil && info.Size() > maxBody {
			t.Fatalf("partial file of %d bytes, more than any body sent (%d)", info.Size(), maxBody)
		}
		n++
	}
	if n > fuzzMaxPartials {
		t.Fatalf("%d partial files kept, bound %d", n, fuzzMaxPartials)
	}
}

// FuzzSnapshotExtHeaders checks the extension's header parsers against
// strconv: no panic, and what they accept is within range.
func FuzzSnapshotExtHeaders(f *testing.F) {
	f.Add("1", "7", "3", "4096", "100", strings.Repeat("ab", 32))
	f.Add("2", "-1", "x", "1e9", "99999999999999999999", "zz")
	f.Fuzz(func(t *testing.T, ext, index, term, size, offset, prefix string) {
		h := http.Header{}
		for k, v := range map[string]string{hdrSnapExt: ext, hdrSnapIndex: index, hdrSnapTerm: term,
			hdrSnapSize: size, hdrSnapOffset: offset, hdrSnapPrefix: prefix} {
			h.Set(k, v)
		}
		fuzzCheckOffer(t, h)
		up, ok, err := parseSnapUpload(h)
		if ok && err == nil && (up.size < 0 || up.offset < 0 || up.offset > up.size) {
			t.Fatalf("upload %+v out of range", up)
		}
		held, ok, err := parseSnapHeld(&http.Response{StatusCode: http.StatusOK, Header: h}, 1<<40)
		if ok && err == nil && (held.offset < 0 || held.offset > 1<<40 || (held.offset > 0 && len(held.prefix) != 32)) {
			t.Fatalf("held %+v out of range", held)
		}
	})
}

func fuzzCheckOffer(t *testing.T, h http.Header) {
	o, err := parseSnapOffer(h)
	if err != nil {
		return
	}
	i, ierr := strconv.ParseUint(h.Get(hdrSnapIndex), 10, 64)
	s, serr := strconv.ParseInt(h.Get(hdrSnapSize), 10, 64)
	if ierr != nil || serr != nil || i != o.index || s != o.size || s < 0 || h.Get(hdrSnapExt) != snapExtVersion {
		t.Fatalf("offer %+v accepted from %v", o, h)
	}
}
