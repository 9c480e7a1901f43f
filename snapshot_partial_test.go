package rafthttp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// stStore is a partial store over a fresh directory.
func stStore(t *testing.T, l Limits) (*partialStore, string) {
	t.Helper()
	dir := t.TempDir()
	ps := newPartialStore(snap.New(nil, dir), zap.NewNop(), l)
	t.Cleanup(ps.close)
	return ps, dir
}

// stCut receives n bytes of a DB for key from offset 0 and then loses the
// connection.
func stCut(t *testing.T, ps *partialStore, key partialKey, n int) {
	t.Helper()
	ph, err := ps.claim(key, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := io.MultiReader(bytes.NewReader(stPatternBytes(n)), iotestErrReader{errFuzzCut})
	if err := ph.copyFrom(body, key.offer.size); !errors.Is(err, errFuzzCut) {
		t.Fatalf("copyFrom = %v, want the cut", err)
	}
	ph.suspend()
}

func stKey(from types.ID, index uint64, size int64) partialKey {
	return partialKey{from: from, offer: snapOffer{index: index, term: 1, size: size}}
}

// stPartials lists the partial files in dir.
func stPartials(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, name := range utDirFiles(t, dir) {
		if strings.HasSuffix(name, ".snap.partial") {
			out = append(out, name)
		}
	}
	return out
}

func TestPartialStoreBounds(t *testing.T) {
	t.Run("count keeps the newest", func(t *testing.T) {
		ps, dir := stStore(t, Limits{MaxSnapshotPartials: 2})
		for from := types.ID(1); from <= 3; from++ {
			stCut(t, ps, stKey(from, 10, 1000), 100)
		}
		if n := len(stPartials(t, dir)); n != 2 {
			t.Errorf("%d partial files, want 2", n)
		}
		if got := ps.held(context.Background(), stKey(1, 10, 1000), 0); got.offset != 0 {
			t.Errorf("oldest partial kept: %+v", got)
		}
		if got := ps.held(context.Background(), stKey(3, 10, 1000), 0); got.offset != 100 {
			t.Errorf("newest partial holds %d bytes, want 100", got.offset)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		ps, dir := stStore(t, Limits{MaxSnapshotPartialBytes: 150})
		stCut(t, ps, stKey(1, 10, 1000), 100)
		stCut(t, ps, stKey(2, 10, 1000), 100) // 200 > 150: the older goes
		if n := len(stPartials(t, dir)); n != 1 {
			t.Errorf("%d partial files, want 1", n)
		}
		stCut(t, ps, stKey(3, 10, 1000), 200) // alone over the bound
		if n := len(stPartials(t, dir)); n != 1 {
			t.Errorf("%d partial files after an oversized cut, want 1 (the earlier)", n)
		}
	})
	t.Run("age", func(t *testing.T) {
		ps, dir := stStore(t, Limits{SnapshotPartialMaxAge: 100 * time.Millisecond})
		stCut(t, ps, stKey(1, 10, 1000), 100)
		waitFor(t, 5*time.Second, "the partial to expire", func() bool { return len(stPartials(t, dir)) == 0 })
	})
	t.Run("newer snapshot", func(t *testing.T) {
		ps, dir := stStore(t, Limits{})
		stCut(t, ps, stKey(1, 10, 1000), 100)
		stCut(t, ps, stKey(2, 20, 1000), 100)
		ps.dropUpTo(10)
		if got := stPartials(t, dir); len(got) != 1 {
			t.Errorf("partials %v after installing index 10, want the one of index 20", got)
		}
	})
	t.Run("sender moves on", func(t *testing.T) {
		ps, dir := stStore(t, Limits{})
		stCut(t, ps, stKey(1, 10, 1000), 100)
		if got := ps.held(context.Background(), stKey(1, 11, 1000), 0); got.offset != 0 {
			t.Errorf("held %+v for another DB", got)
		}
		if got := stPartials(t, dir); len(got) != 0 {
			t.Errorf("partials %v left once the sender offered another DB", got)
		}
	})
	t.Run("negative keeps none", func(t *testing.T) {
		ps, dir := stStore(t, Limits{MaxSnapshotPartials: -1})
		stCut(t, ps, stKey(1, 10, 1000), 100)
		if got := stPartials(t, dir); len(got) != 0 {
			t.Errorf("partials %v kept with resume off", got)
		}
	})
}

func TestPartialStoreCleanup(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "tmp123.snap.partial")
	if err := os.WriteFile(stale, []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	ps := newPartialStore(snap.New(nil, dir), zap.NewNop(), Limits{})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a partial file from before Start survived: %v", err)
	}
	stCut(t, ps, stKey(1, 10, 1000), 100)
	busy, err := ps.claim(stKey(2, 10, 1000), 0)
	if err != nil {
		t.Fatal(err)
	}
	ps.close()
	if got := stPartials(t, dir); len(got) != 1 {
		t.Errorf("after close: %v, want only the busy partial", got)
	}
	busy.suspend()
	if got := stPartials(t, dir); len(got) != 0 {
		t.Errorf("a transfer ending after close kept %v", got)
	}
	if _, err := ps.claim(stKey(3, 10, 1000), 0); !errors.Is(err, ErrStopped) {
		t.Errorf("claim after close = %v, want ErrStopped", err)
	}
}

// A busy partial of the same DB is waited for: the offer answers with
// what the ended transfer left.
func TestPartialStoreOfferWaitsForBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps, _ := stStore(t, Limits{})
		key := stKey(1, 10, 1000)
		ph, err := ps.claim(key, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := ph.copyFrom(io.MultiReader(bytes.NewReader(stPatternBytes(300)), iotestErrReader{errFuzzCut}), 1000); !errors.Is(err, errFuzzCut) {
			t.Fatal(err)
		}
		heldc := make(chan snapHeld, 1)
		go func() { heldc <- ps.held(context.Background(), key, 5*time.Second) }()
		synctest.Wait() // held is now blocked on the busy partial
		select {
		case held := <-heldc:
			t.Fatalf("the offer answered %+v while the transfer was still busy", held)
		default:
		}
		ph.suspend()
		held := <-heldc
		want := crc32.Checksum(stPatternBytes(300), crc32.MakeTable(crc32.Castagnoli))
		if held.offset != 300 || !bytes.Equal(held.prefix, binary.BigEndian.AppendUint32(nil, want)) {
			t.Errorf("held %d bytes with prefix %x, want 300 with %x", held.offset, held.prefix, want)
		}
	})
}

// The handler path, step by step: a cut keeps bytes, an offer reports
// them with their CRC-32C, the resume with the right offset and trailer
// installs the whole DB; hostile variants leave nothing.
func TestSnapshotExtReceiveResumeAndHostile(t *testing.T) {
	tm := fuzzStartPartialTransport(t)
	db := stPatternBytes(10000)
	hexSum := fuzzSum(db)
	size := strconv.Itoa(len(db))
	for _, tt := range []struct {
		name, size, offset string
		body               []byte
		trailer            string
		want               int
	}{
		{"resume of nothing held", size, "5", db[5:], hexSum, http.StatusConflict},
		{"offset beyond size", size, "10001", nil, hexSum, http.StatusBadRequest},
		{"body longer than declared", "100", "0", db[:101], hexSum, http.StatusBadRequest},
		{"body shorter than declared", size, "0", db[:9999], hexSum, http.StatusBadRequest},
		{"no trailer", size, "0", db, "", http.StatusBadRequest},
		{"wrong trailer", size, "0", db, strings.Repeat("00", 4), http.StatusBadRequest},
		{"malformed trailer", size, "0", db, hexSum + "00", http.StatusBadRequest},
		{"malformed size", "ten", "0", db, hexSum, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := fuzzPostExt(t, tm, 7, tt.size, tt.offset, tt.body, tt.trailer, false)
			if rec.Code != tt.want {
				t.Fatalf("answer %d %q, want %d", rec.Code, rec.Body.String(), tt.want)
			}
			if files := utDirFiles(t, tm.tr.Snapshotter.Dir()); len(files) != 0 {
				t.Fatalf("left %v", files)
			}
		})
	}
	if rec := fuzzPostExt(t, tm, 7, size, "0", db[:4000], "", true); rec.Code != http.StatusInternalServerError {
		t.Fatalf("cut answered %d", rec.Code)
	}
	held := stOffer(t, tm, 7, len(db))
	if held.Get(hdrSnapOffset) != "4000" || held.Get(hdrSnapPrefix) != fuzzSum(db[:4000]) {
		t.Fatalf("offer answered %v, want 4000 bytes and their CRC-32C", held)
	}
	if rec := fuzzPostExt(t, tm, 7, size, "4000", db[4000:], hexSum, false); rec.Code != http.StatusNoContent {
		t.Fatalf("resume answered %d %q", rec.Code, rec.Body.String())
	}
	utCheckSavedDB(t, tm.tr.Snapshotter.Dir(), 7, db)
}

// stOffer asks tm's handler what it holds of a DB of index from member a.
func stOffer(t *testing.T, tm *goldenMember, index uint64, size int) http.Header {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, snapshotOfferPath, nil)
	for k, v := range map[string]string{hdrServerFrom: "a", hdrServerVersion: defaultServerVersion,
		hdrMinClusterVersion: defaultMinClusterVersion, hdrClusterID: "c1"} {
		req.Header.Set(k, v)
	}
	snapOffer{index: index, term: 1, size: int64(size)}.setHeaders(req.Header)
	rec := httptest.NewRecorder()
	tm.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get(hdrSnapExt) != snapExtVersion {
		t.Fatalf("offer answered %d %v", rec.Code, rec.Header())
	}
	return rec.Header()
}

// A receiver that takes longer than the stall timeout to install the DB
// keeps an extended sender waiting with 102s; without them the sender
// gives up after the stall timeout, not the etcd allowance.
func TestSnapshotKeepAlives(t *testing.T) {
	const stall = 900 * time.Millisecond
	for _, keep := range []bool{true, false} {
		t.Run("keepalive="+strconv.FormatBool(keep), func(t *testing.T) {
			var got1xx atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == snapshotOfferPath {
					snapHeld{}.setHeaders(w.Header())
					return
				}
				io.Copy(io.Discard, r.Body)
				slow := func() error { time.Sleep(2 * stall); return nil }
				if keep {
					keepAlive(w, stall/3, slow)
				} else {
					slow()
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(srv.Close)
			f := utNewFixture(t, stWithStall(stall))
			t.Cleanup(func() { closeIdle(f.env.snapshotRt) })
			s := utSnapshotSender(t, f, srv.URL)
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				Got1xxResponse: func(int, textproto.MIMEHeader) error { got1xx.Add(1); return nil }})
			err := s.post(ctx, stSnapMessage(3, 1<<20))
			if keep && (err != nil || got1xx.Load() < 3) {
				t.Errorf("post() = %v after %d keep-alives, want success after at least 3", err, got1xx.Load())
			}
			if !keep && !errors.Is(err, errSnapshotStalled) {
				t.Errorf("post() = %v without keep-alives, want %v", err, errSnapshotStalled)
			}
		})
	}
}

// stForeignPrefix cuts a transfer of snapshot 9, a 1 MiB pattern DB,
// half way and waits until the receiver keeps what it got; it returns
// another DB of the same index, term and size whose first byte differs.
func stForeignPrefix(t *testing.T) (a, b *testMember, dir string, faults *stFaults, other []byte) {
	t.Helper()
	const size = 1 << 20
	faults = &stFaults{cuts: []int64{size / 2}}
	a, b, dir = stPair(t, faults, nil, nil)
	stSendFails(t, a, 9, size, "the cut attempt")
	waitFor(t, 5*time.Second, "the cut to be kept", func() bool { return len(stPartials(t, dir)) == 1 })
	other = stPatternBytes(size)
	other[0] ^= 1
	return a, b, dir, faults, other
}

// A held prefix that is not our DB's fails one attempt without sending
// it, and the next starts over.
func TestSnapshotPrefixMismatchStartsOver(t *testing.T) {
	a, _, dir, faults, other := stForeignPrefix(t)
	send := func() bool {
		sm := snap.NewMessage(utSnapMsg(9), io.NopCloser(bytes.NewReader(other)), int64(len(other)))
		a.tr.SendSnapshot(sm)
		return utWaitCloseNotify(t, sm, 20*time.Second)
	}
	if send() {
		t.Fatal("an attempt over a foreign prefix succeeded")
	}
	if _, posts := faults.stats(); posts != 1 {
		t.Errorf("%d snapshot POSTs, want only the first: the mismatch is found before sending", posts)
	}
	if !send() {
		t.Fatal("the attempt after a mismatch failed")
	}
	utCheckSavedDB(t, dir, 9, other)
}

// A held prefix that is not our DB's, when the DB can seek (a file),
// costs no attempt: the sender rewinds and sends the whole DB at once.
func TestSnapshotPrefixMismatchRewindsSeekableDB(t *testing.T) {
	a, b, dir, faults, other := stForeignPrefix(t)
	sm := snap.NewMessage(utSnapMsg(9), stSeekCloser{bytes.NewReader(other)}, int64(len(other)))
	a.tr.SendSnapshot(sm)
	if !utWaitCloseNotify(t, sm, 20*time.Second) {
		t.Fatal("the attempt over a foreign prefix failed; a seekable DB should have been rewound")
	}
	if _, posts := faults.stats(); posts != 2 {
		t.Errorf("%d snapshot POSTs, want 2: the cut one and the whole DB", posts)
	}
	utCheckSavedDB(t, dir, 9, other)
	to2, from1 := map[string]string{"To": "2"}, map[string]string{"From": "1"}
	if got := utMetricValue(t, utGatherer(t, a), "etcd_network_snapshot_send_resumed_bytes_total", to2); got != 0 {
		t.Errorf("snapshot_send_resumed_bytes_total = %v, want 0: nothing was resumed", got)
	}
	if got := utMetricValue(t, utGatherer(t, b), "etcd_network_snapshot_receive_resumed_bytes_total", from1); got != 0 {
		t.Errorf("snapshot_receive_resumed_bytes_total = %v, want 0", got)
	}
}

// stSeekCloser is a seekable DB body, as an *os.File is.
type stSeekCloser struct{ *bytes.Reader }

func (stSeekCloser) Close() error { return nil }

// Stop removes what cut transfers left.
func TestSnapshotStopRemovesPartials(t *testing.T) {
	faults := &stFaults{cuts: []int64{1 << 19}}
	a, b, dir := stPair(t, faults, nil, nil)
	stSendFails(t, a, 9, 1<<20, "the cut attempt")
	waitFor(t, 5*time.Second, "the receiver to end the cut transfer", func() bool { return b.tr.SnapshotTransfers() == nil })
	if got := stPartials(t, dir); len(got) != 1 {
		t.Fatalf("partials %v after the cut, want 1", got)
	}
	b.tr.Stop()
	if files := utDirFiles(t, dir); len(files) != 0 {
		t.Errorf("Stop left %v", files)
	}
}
