package rafthttp

import (
	"bytes"
	"errors"
	"hash/crc32"
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
// checksum, size and offset headers, DB bytes, checksum trailer, and
// possibly a cut at the end. Whatever arrives: no panic; a 204 only for a
// DB whose checksum (the one the header names) is the trailer's, installed
// whole; a cut leaves at most the bytes sent, in at most fuzzMaxPartials
// files; nothing else is left behind.
func FuzzSnapshotExtReceive(f *testing.F) {
	f.Add("", "3", "0", []byte("abc"), fuzzSum([]byte("abc")), false)
	f.Add("crc32c", "3", "0", []byte("abc"), fuzzSum([]byte("abc")), false)
	f.Add("crc32c", "3", "0", []byte("abd"), fuzzSum([]byte("abc")), false)
	f.Add("sha256", "3", "0", []byte("abc"), fuzzSum([]byte("abc")), false)
	f.Add("crc32c", "1000", "0", []byte("abc"), "", true)
	f.Add("crc32c", "3", "2", []byte("c"), "", false)
	f.Add("", "-1", "x", []byte(""), "zz", true)
	tm := fuzzStartPartialTransport(f)
	var index atomic.Uint64
	var maxSent atomic.Int64 // the largest DB body sent so far
	f.Fuzz(func(t *testing.T, checksum, size, offset string, db []byte, trailer string, cut bool) {
		i := index.Add(1)
		for n := int64(len(db)); n > maxSent.Load(); {
			maxSent.CompareAndSwap(maxSent.Load(), n)
		}
		rec := fuzzPostExtSum(t, tm, i, checksum, size, offset, db, trailer, cut)
		fuzzCheckExtOutcome(t, tm, i, rec.Code, checksum, db, trailer)
		fuzzCheckPartials(t, tm.tr.Snapshotter.Dir(), maxSent.Load())
	})
}

// fuzzSum is db's checksum in hex.
func fuzzSum(db []byte) string {
	h := newSnapHash()
	h.Write(db)
	return formatSnapSum(h.Sum(nil))
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

// fuzzPostExt posts an extended snapshot of index from member a, naming
// CRC-32C.
func fuzzPostExt(t *testing.T, tm *goldenMember, index uint64, size, offset string, db []byte, trailer string, cut bool) *httptest.ResponseRecorder {
	return fuzzPostExtSum(t, tm, index, snapSumName, size, offset, db, trailer, cut)
}

// fuzzPostExtSum posts an extended snapshot of index from member a whose
// hdrSnapChecksum is checksum (none if empty), with trailer in hdrSnapSum.
func fuzzPostExtSum(t *testing.T, tm *goldenMember, index uint64, checksum, size, offset string, db []byte,
	trailer string, cut bool) *httptest.ResponseRecorder {
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
	if checksum != "" {
		req.Header.Set(hdrSnapChecksum, checksum)
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
func fuzzCheckExtOutcome(t *testing.T, tm *goldenMember, index uint64, code int, checksum string, db []byte, trailer string) {
	dir := tm.tr.Snapshotter.Dir()
	dbName := filepath.Join(dir, snapDBName(index))
	switch code {
	case http.StatusNoContent:
		if want := fuzzSum(db); checksum != snapSumName || !strings.EqualFold(trailer, want) {
			t.Fatalf("204 for a DB whose %q checksum %s is not the trailer's %q", checksum, want, trailer)
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
	f.Add("1", "", "7", "3", "4096", "100", "0a0b0c0d")
	f.Add("1", "crc32c", "7", "3", "4096", "100", "0a0b0c0d")
	f.Add("2", "sha1", "-1", "x", "1e9", "99999999999999999999", "zz")
	f.Fuzz(func(t *testing.T, ext, checksum, index, term, size, offset, prefix string) {
		h := http.Header{}
		for k, v := range map[string]string{hdrSnapExt: ext, hdrSnapChecksum: checksum, hdrSnapIndex: index,
			hdrSnapTerm: term, hdrSnapSize: size, hdrSnapOffset: offset, hdrSnapPrefix: prefix} {
			h.Set(k, v)
		}
		fuzzCheckOffer(t, h)
		up, ok, err := parseSnapUpload(h)
		named := h.Get(hdrSnapChecksum) == snapSumName
		if ok && err == nil && (up.size < 0 || up.offset < 0 || up.offset > up.size || !named) {
			t.Fatalf("upload %+v out of range", up)
		}
		o := snapOffer{size: 1 << 40}
		held, ok, err := parseSnapHeld(&http.Response{StatusCode: http.StatusOK, Header: h}, o)
		if ok && err == nil && (held.offset < 0 || held.offset > o.size || !named ||
			(held.offset > 0 && len(held.prefix) != crc32.Size)) {
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
	if ierr != nil || serr != nil || i != o.index || s != o.size || s < 0 || h.Get(hdrSnapExt) != snapExtVersion ||
		h.Get(hdrSnapChecksum) != snapSumName {
		t.Fatalf("offer %+v accepted from %v", o, h)
	}
}
