package rafthttp

import (
	"bytes"
	"context"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

// hpNoLeaks fails t if a goroutine it started outlives it and its
// cleanups.
func hpNoLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// hpPattern is n bytes that differ at every offset that matters here.
func hpPattern(n int) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{'h', 'p'})
	_, _ = rng.Read(b)
	return b
}

// hpChunker returns its data in reads of the given sizes, in turn, so
// that buffer boundaries fall at odd offsets.
type hpChunker struct {
	data  []byte
	sizes []int
	i     int
}

func (c *hpChunker) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), c.sizes[c.i%len(c.sizes)])
	c.i++
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// hpReaders are ways a body may arrive, all over the same bytes. Reads
// of one byte, slow under the race detector, are kept to small bodies.
func hpReaders(data []byte) map[string]io.Reader {
	rs := map[string]io.Reader{
		"whole":        bytes.NewReader(data),
		"halves":       iotest.HalfReader(bytes.NewReader(data)),
		"data and EOF": iotest.DataErrReader(bytes.NewReader(data)),
		"odd sizes":    &hpChunker{data: data, sizes: []int{1, extUploadChunk - 1, 7, extUploadChunk + 3, 4093}},
	}
	if len(data) <= 8<<10 {
		rs["one byte"] = iotest.OneByteReader(bytes.NewReader(data))
	}
	return rs
}

// hpSizes are DB sizes around the buffer boundaries of both sides.
var hpSizes = []int{0, 1, 5000, extUploadChunk - 1, extUploadChunk, extUploadChunk + 1,
	2*extUploadChunk + 5, 6*extUploadChunk + 12345}

// The receiver's copy writes every byte once, in order, and its checksum
// is the one-shot checksum of the whole, however the reads fall.
func TestHashedCopyMatchesOneShot(t *testing.T) {
	for _, size := range hpSizes {
		data := hpPattern(size)
		want := fuzzSum(data)
		for name, r := range hpReaders(data) {
			var dst bytes.Buffer
			h := newSnapHash()
			if err := hashedCopy(&dst, h, r, int64(size)); err != nil {
				t.Fatalf("size %d, %s: %v", size, name, err)
			}
			if !bytes.Equal(dst.Bytes(), data) {
				t.Errorf("size %d, %s: wrote %d bytes, not the body", size, name, dst.Len())
			}
			if got := formatSnapSum(h.Sum(nil)); got != want {
				t.Errorf("size %d, %s: checksum %s, want %s", size, name, got, want)
			}
		}
	}
}

// hpFailAfter is a reader or writer that fails once it has passed n bytes.
type hpFailAfter struct {
	n   int
	err error
	out bytes.Buffer
}

func (w *hpFailAfter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		w.out.Write(p[:w.n])
		n := w.n
		w.n = 0
		return n, w.err
	}
	w.n -= len(p)
	return w.out.Write(p)
}

var (
	errHpCut  = errors.New("test: connection cut")
	errHpDisk = errors.New("test: disk full")
)

// A body cut mid-way leaves the bytes written before the cut, and a hash
// of exactly those, ready to resume: what suspend saves.
func TestHashedCopyCutIsResumable(t *testing.T) {
	hpNoLeaks(t)
	const size = 5*extUploadChunk + 77
	data := hpPattern(size)
	for _, cut := range []int{0, 1, extUploadChunk, 3*extUploadChunk + 11, size - 1} {
		body := io.MultiReader(&hpChunker{data: data[:cut], sizes: []int{4093, 1}}, iotest.ErrReader(errHpCut))
		var dst bytes.Buffer
		h := newSnapHash()
		if err := hashedCopy(&dst, h, body, size); !errors.Is(err, errHpCut) {
			t.Fatalf("cut at %d: hashedCopy = %v, want the cut", cut, err)
		}
		if !bytes.Equal(dst.Bytes(), data[:cut]) {
			t.Errorf("cut at %d: wrote %d bytes, want the %d before the cut", cut, dst.Len(), cut)
		}
		state, err := h.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := formatSnapSum(sumOfState(state)), fuzzSum(data[:cut]); got != want {
			t.Errorf("cut at %d: saved state sums to %s, want the %d bytes written: %s", cut, got, cut, want)
		}
	}
}

// A disk that fails mid-way ends the copy with errSnapWrite, however much
// of the body is still to come.
func TestHashedCopyWriteError(t *testing.T) {
	hpNoLeaks(t)
	const size = 6 * extUploadChunk
	data := hpPattern(size)
	dst := &hpFailAfter{n: 2*extUploadChunk + 5, err: errHpDisk}
	err := hashedCopy(dst, newSnapHash(), bytes.NewReader(data), size)
	if !errors.Is(err, errSnapWrite) || !errors.Is(err, errHpDisk) {
		t.Fatalf("hashedCopy = %v, want %v wrapping the disk's error", err, errSnapWrite)
	}
}

// Bodies longer or shorter than declared fail.
func TestHashedCopyWrongLength(t *testing.T) {
	data := hpPattern(2*extUploadChunk + 3)
	for _, want := range []int64{int64(len(data)) - 1, int64(len(data)) + 1, 0} {
		err := hashedCopy(io.Discard, newSnapHash(), bytes.NewReader(data), want)
		if !errors.Is(err, errSnapBodyLength) {
			t.Errorf("want %d of %d bytes: hashedCopy = %v, want %v", want, len(data), err, errSnapBodyLength)
		}
	}
}

// hpSendBody is an extended upload body over data, continuing h.
func hpSendBody(t *testing.T, ctx context.Context, r io.Reader, h hash.Hash, size int64) *extSendBody {
	t.Helper()
	reqCtx, watch := startStallWatch(ctx, time.Minute)
	t.Cleanup(watch.close)
	tr := &transfer{set: &transferSet{}, lg: zap.NewNop(), nextLog: time.Now().Add(time.Hour),
		bytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "test_bytes"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_inflight"})}
	plain := &sendBody{ctx: reqCtx, r: r, watch: watch, tr: tr, answerWait: time.Minute}
	b := (&extUpload{sum: h}).body(plain, snapOffer{index: 1, term: 1, size: size})
	b.trailer = http.Header{}
	return b
}

// The sender's body, through WriteTo (net/http's way) or Read, sends the
// DB unchanged and trails the one-shot CRC-32C of it.
func TestExtSendBodyMatchesOneShot(t *testing.T) {
	for _, size := range hpSizes {
		data := hpPattern(size)
		want := fuzzSum(data)
		for _, how := range []string{"WriteTo", "Read"} {
			for name, r := range hpReaders(data) {
				b := hpSendBody(t, context.Background(), r, newSnapHash(), int64(size))
				var got bytes.Buffer
				var err error
				if how == "WriteTo" {
					_, err = b.WriteTo(&got)
				} else {
					_, err = io.Copy(&got, struct{ io.Reader }{b})
				}
				if err != nil {
					t.Fatalf("size %d, %s, %s: %v", size, name, how, err)
				}
				if !bytes.Equal(got.Bytes(), data) {
					t.Errorf("size %d, %s, %s: sent %d bytes, not the DB", size, name, how, got.Len())
				}
				if sum := b.trailer.Get(hdrSnapSum); sum != want {
					t.Errorf("size %d, %s, %s: trailer %q, want %s", size, name, how, sum, want)
				}
			}
		}
	}
}

// A DB that fails to read mid-way fails the upload without a trailer.
func TestExtSendBodyReadError(t *testing.T) {
	hpNoLeaks(t)
	data := hpPattern(3*extUploadChunk + 9)
	r := io.MultiReader(bytes.NewReader(data[:extUploadChunk+1]), iotest.ErrReader(errHpCut))
	b := hpSendBody(t, context.Background(), r, newSnapHash(), int64(len(data)))
	if _, err := b.WriteTo(io.Discard); !errors.Is(err, errHpCut) {
		t.Fatalf("WriteTo = %v, want the DB's error", err)
	}
	if sum := b.trailer.Get(hdrSnapSum); sum != "" {
		t.Errorf("trailer %q after a failed read", sum)
	}
}

// Cancelling a capped upload's request ends its wait for the cap.
func TestExtSendBodyCancelled(t *testing.T) {
	hpNoLeaks(t)
	data := hpPattern(4 * extUploadChunk)
	ctx, cancel := context.WithCancel(context.Background())
	b := hpSendBody(t, ctx, bytes.NewReader(data), newSnapHash(), int64(len(data)))
	b.cap = newByteCap(1 << 10) // far too slow to finish before the deadline below
	w := writerFunc(func(p []byte) (int, error) {
		cancel()
		return len(p), nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := b.WriteTo(w)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WriteTo = %v, want %v", err, context.Canceled)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WriteTo still waits for the cap after its request was cancelled")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
