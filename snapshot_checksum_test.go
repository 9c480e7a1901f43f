package rafthttp

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/rafthttp/rafthttp/snap"
)

// ckReceiver is a snapshot receiver that answers offers with a given
// hdrSnapChecksum (none if empty) and records the POST it gets.
type ckReceiver struct {
	echo string

	mu      sync.Mutex
	header  http.Header
	trailer http.Header
	body    []byte
}

func (c *ckReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case snapshotOfferPath:
		w.Header().Set(hdrSnapExt, snapExtVersion)
		w.Header().Set(hdrSnapOffset, "0")
		if c.echo != "" {
			w.Header().Set(hdrSnapChecksum, c.echo)
		}
	case RaftSnapshotPrefix:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.header, c.trailer, c.body = r.Header.Clone(), r.Trailer.Clone(), body
		c.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// The sender uses the extension only with a receiver whose answer names
// CRC-32C; an answer that names no checksum or another one means the
// receiver does not speak this extension, and the snapshot goes out as
// etcd sends it: no extension header, no checksum, no trailer.
func TestSnapshotChecksumNegotiation(t *testing.T) {
	const size = 3*extUploadChunk + 5
	db := stPatternBytes(size)
	crcSum := fmt.Sprintf("%08x", crc32.Checksum(db, crc32.MakeTable(crc32.Castagnoli)))
	for _, tt := range []struct {
		name, echo string
		ext        bool // the POST is extended, with CRC-32C
	}{
		{name: "receiver names crc32c", echo: "crc32c", ext: true},
		{name: "receiver names no checksum"},
		{name: "receiver names another", echo: "sha256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rcv := &ckReceiver{echo: tt.echo}
			srv := httptest.NewServer(rcv)
			t.Cleanup(srv.Close)
			f := utNewFixture(t, nil)
			t.Cleanup(func() { closeIdle(f.env.snapshotRt) })
			s := utSnapshotSender(t, f, srv.URL)
			dbr := &ckLargestRead{r: &stPattern{n: size}}
			if err := s.post(context.Background(), snap.NewMessage(utSnapMsg(3), io.NopCloser(dbr), size)); err != nil {
				t.Fatal(err)
			}
			// The extended upload goes through WriteTo in whole chunks;
			// etcd's through net/http's own smaller reads.
			if viaWriteTo := dbr.largest == extUploadChunk; viaWriteTo != tt.ext {
				t.Errorf("largest DB read %d bytes (chunk %d), extended upload %v", dbr.largest, extUploadChunk, tt.ext)
			}
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			want := map[string]string{hdrSnapExt: "", hdrSnapChecksum: "", hdrSnapSize: ""}
			wantTrailer := ""
			if tt.ext {
				want = map[string]string{hdrSnapExt: snapExtVersion, hdrSnapChecksum: "crc32c", hdrSnapSize: strconv.Itoa(size)}
				wantTrailer = crcSum
			}
			for k, v := range want {
				if got := rcv.header.Get(k); got != v {
					t.Errorf("POST has %s %q, want %q", k, got, v)
				}
			}
			if got := rcv.trailer.Get(hdrSnapSum); got != wantTrailer || (!tt.ext && len(rcv.trailer) != 0) {
				t.Errorf("trailer %v, want %s %q alone", rcv.trailer, hdrSnapSum, wantTrailer)
			}
			if !bytes.HasSuffix(rcv.body, db) {
				t.Errorf("POST body does not end with the DB")
			}
		})
	}
}

// ckOfferAnswer sends tm an offer whose hdrSnapChecksum is checksum (none
// if empty) and returns the answer's status.
func ckOfferAnswer(tm *goldenMember, index uint64, size int, checksum string) int {
	req := httptest.NewRequest(http.MethodGet, snapshotOfferPath, nil)
	for k, v := range map[string]string{hdrServerFrom: "a", hdrServerVersion: defaultServerVersion,
		hdrMinClusterVersion: defaultMinClusterVersion, hdrClusterID: "c1"} {
		req.Header.Set(k, v)
	}
	snapOffer{index: index, term: 1, size: int64(size)}.setHeaders(req.Header)
	req.Header.Del(hdrSnapChecksum)
	if checksum != "" {
		req.Header.Set(hdrSnapChecksum, checksum)
	}
	rec := httptest.NewRecorder()
	tm.handler.ServeHTTP(rec, req)
	return rec.Code
}

// A receiver refuses, with 400, an offer or an extended POST that names no
// checksum or one other than CRC-32C, and keeps nothing of such a POST.
func TestSnapshotChecksumReceiverRefusesOthers(t *testing.T) {
	tm := fuzzStartPartialTransport(t)
	db := stPatternBytes(10000)
	size := strconv.Itoa(len(db))
	for i, checksum := range []string{"", "sha256", "CRC32C"} {
		t.Run(fmt.Sprintf("%q", checksum), func(t *testing.T) {
			index := uint64(10 + i)
			if code := ckOfferAnswer(tm, index, len(db), checksum); code != http.StatusBadRequest {
				t.Errorf("offer answered %d, want 400", code)
			}
			// A whole POST with CRC-32C's right trailer, and a cut one that
			// would otherwise be kept.
			for _, cut := range []bool{false, true} {
				if rec := fuzzPostExtSum(t, tm, index, checksum, size, "0", db, fuzzSum(db), cut); rec.Code != http.StatusBadRequest {
					t.Errorf("POST (cut %v) answered %d %q, want 400", cut, rec.Code, rec.Body.String())
				}
			}
			if got := stPartials(t, tm.tr.Snapshotter.Dir()); len(got) != 0 {
				t.Errorf("partials %v kept", got)
			}
			if code := ckOfferAnswer(tm, index, len(db), "crc32c"); code != http.StatusOK {
				t.Errorf("crc32c offer answered %d", code)
			}
		})
	}
	ckCheckEmpty(t, tm.tr.Snapshotter.Dir())
}

// A receiver keeps a cut transfer with its CRC-32C: an offer gets the held
// bytes' CRC, a resume with a wrong trailer is a checksum failure that
// leaves no file, and one with the whole DB's CRC installs it.
func TestSnapshotChecksumReceiverCRC32C(t *testing.T) {
	tm := fuzzStartPartialTransport(t)
	db := stPatternBytes(10000)
	size := strconv.Itoa(len(db))
	cut := func(index uint64) {
		t.Helper()
		if rec := fuzzPostExt(t, tm, index, size, "0", db[:4000], "", true); rec.Code != http.StatusInternalServerError {
			t.Fatalf("cut answered %d", rec.Code)
		}
	}
	cut(7)
	held := stOffer(t, tm, 7, len(db))
	if got := held.Get(hdrSnapChecksum); got != "crc32c" {
		t.Errorf("offer answered %s %q, want crc32c", hdrSnapChecksum, got)
	}
	if held.Get(hdrSnapOffset) != "4000" || held.Get(hdrSnapPrefix) != fuzzSum(db[:4000]) {
		t.Fatalf("offer answered %v, want 4000 bytes and their CRC-32C", held)
	}
	whole := fuzzSum(db)
	if rec := fuzzPostExt(t, tm, 7, size, "4000", db[4000:], "00"+whole[2:], false); rec.Code != http.StatusBadRequest {
		t.Fatalf("resume with a wrong CRC answered %d %q", rec.Code, rec.Body.String())
	}
	if got := stPartials(t, tm.tr.Snapshotter.Dir()); len(got) != 0 {
		t.Fatalf("partials %v left after a checksum failure", got)
	}
	ckCheckEmpty(t, tm.tr.Snapshotter.Dir())
	cut(7)
	if rec := fuzzPostExt(t, tm, 7, size, "4000", db[4000:], whole, false); rec.Code != http.StatusNoContent {
		t.Fatalf("resume answered %d %q", rec.Code, rec.Body.String())
	}
	utCheckSavedDB(t, tm.tr.Snapshotter.Dir(), 7, db)
}

// ckCheckEmpty fails unless dir holds no file at all.
func ckCheckEmpty(t *testing.T, dir string) {
	t.Helper()
	if files := utDirFiles(t, dir); len(files) != 0 {
		t.Fatalf("snapshot dir holds %v, want nothing", files)
	}
}

// ckLargestRead records the largest read asked of r.
type ckLargestRead struct {
	r       io.Reader
	largest int // only the uploading goroutine reads
}

func (l *ckLargestRead) Read(p []byte) (int, error) {
	l.largest = max(l.largest, len(p))
	return l.r.Read(p)
}
