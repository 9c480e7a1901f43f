package rafthttp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
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

// The sender asks for CRC-32C and uses what the receiver agrees to: CRC-32C,
// or SHA-256 from a receiver that names no checksum (one from before they
// were named). An answer naming a checksum that was not offered is
// malformed, and the snapshot goes out as etcd sends it.
func TestSnapshotChecksumNegotiation(t *testing.T) {
	const size = 3*hashPipeBufSize + 5
	db := stPatternBytes(size)
	crcSum := crc32.Checksum(db, crc32.MakeTable(crc32.Castagnoli))
	shaSum := sha256.Sum256(db)
	for _, tt := range []struct {
		name, echo     string
		wantHeader     string // hdrSnapExt and hdrSnapChecksum of the POST
		wantChecksum   string
		trailer, value string
	}{
		{name: "receiver agrees to crc32c", echo: "crc32c", wantHeader: snapExtVersion, wantChecksum: "crc32c",
			trailer: hdrSnapSumCRC32C, value: fmt.Sprintf("%08x", crcSum)},
		{name: "receiver names no checksum", wantHeader: snapExtVersion,
			trailer: hdrSnapSum, value: hex.EncodeToString(shaSum[:])},
		{name: "receiver names one not offered", echo: "md5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rcv := &ckReceiver{echo: tt.echo}
			srv := httptest.NewServer(rcv)
			t.Cleanup(srv.Close)
			f := utNewFixture(t, nil)
			t.Cleanup(func() { closeIdle(f.env.snapshotRt) })
			s := utSnapshotSender(t, f, srv.URL)
			if err := s.post(context.Background(), stSnapMessage(3, size)); err != nil {
				t.Fatal(err)
			}
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			if got := rcv.header.Get(hdrSnapExt); got != tt.wantHeader {
				t.Errorf("POST has %s %q, want %q", hdrSnapExt, got, tt.wantHeader)
			}
			if got := rcv.header.Get(hdrSnapChecksum); got != tt.wantChecksum {
				t.Errorf("POST has %s %q, want %q", hdrSnapChecksum, got, tt.wantChecksum)
			}
			for _, k := range []string{hdrSnapSum, hdrSnapSumCRC32C} {
				want := ""
				if k == tt.trailer {
					want = tt.value
				}
				if got := rcv.trailer.Get(k); got != want {
					t.Errorf("trailer %s = %q, want %q", k, got, want)
				}
			}
			if !bytes.HasSuffix(rcv.body, db) {
				t.Errorf("POST body does not end with the DB")
			}
		})
	}
}

// ckOffer is stOffer asking for checksum sum.
func ckOffer(t *testing.T, tm *goldenMember, index uint64, size int, sum snapSum) http.Header {
	t.Helper()
	asking := *tm
	asking.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSnapSum(r.Header, sum)
		tm.handler.ServeHTTP(w, r)
	})
	return stOffer(t, &asking, index, size)
}

// A receiver keeps a cut CRC-32C transfer under that checksum: an offer
// asking for it gets the held bytes' CRC in its own header, the resume
// installs the DB only with the whole DB's CRC, and an offer with
// another checksum cannot resume those bytes.
func TestSnapshotChecksumReceiverCRC32C(t *testing.T) {
	tm := fuzzStartPartialTransport(t)
	db := stPatternBytes(10000)
	size := strconv.Itoa(len(db))
	cut := func(index uint64) {
		t.Helper()
		if rec := fuzzPostExtSum(t, tm, index, "crc32c", size, "0", db[:4000], "", true); rec.Code != http.StatusInternalServerError {
			t.Fatalf("cut answered %d", rec.Code)
		}
	}
	cut(7)
	held := ckOffer(t, tm, 7, len(db), snapSumCRC32C)
	if got := held.Get(hdrSnapChecksum); got != "crc32c" {
		t.Errorf("offer answered %s %q, want crc32c", hdrSnapChecksum, got)
	}
	if held.Get(hdrSnapOffset) != "4000" || held.Get(hdrSnapPrefixCRC32C) != fuzzSum(snapSumCRC32C, db[:4000]) ||
		held.Get(hdrSnapPrefix) != "" {
		t.Fatalf("offer answered %v, want 4000 bytes and their CRC-32C alone", held)
	}
	whole := fuzzSum(snapSumCRC32C, db)
	if rec := fuzzPostExtSum(t, tm, 7, "crc32c", size, "4000", db[4000:], "00"+whole[2:], false); rec.Code != http.StatusBadRequest {
		t.Fatalf("resume with a wrong CRC answered %d %q", rec.Code, rec.Body.String())
	}
	cut(7)
	if rec := fuzzPostExtSum(t, tm, 7, "crc32c", size, "4000", db[4000:], whole, false); rec.Code != http.StatusNoContent {
		t.Fatalf("resume answered %d %q", rec.Code, rec.Body.String())
	}
	utCheckSavedDB(t, tm.tr.Snapshotter.Dir(), 7, db)

	cut(8)
	held = ckOffer(t, tm, 8, len(db), snapSumSHA256)
	if held.Get(hdrSnapOffset) != "0" || held.Get(hdrSnapChecksum) != "" {
		t.Errorf("a SHA-256 offer over CRC-32C bytes answered %v, want offset 0 and no checksum named", held)
	}
	if got := stPartials(t, tm.tr.Snapshotter.Dir()); len(got) != 0 {
		t.Errorf("partials %v left after the sender moved on to another checksum", got)
	}
}
