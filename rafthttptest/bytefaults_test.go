package rafthttptest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pattern returns n reproducible random bytes.
func pattern(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// readAll reads r until it fails, within a deadline, and returns what it
// got and the error that ended it.
func readAll(t *testing.T, r net.Conn) ([]byte, error) {
	t.Helper()
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	buf := make([]byte, 8<<10)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			return got.Bytes(), err
		}
	}
}

// readN reads exactly n bytes from r within a deadline.
func readN(t *testing.T, r net.Conn, n int) []byte {
	t.Helper()
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, n)
	if k, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("read %d of %d bytes: %v", k, n, err)
	}
	return got
}

// writeAsync writes data to w from a goroutine the test waits for at
// cleanup; the writer's error is not checked, since a cut may fail it.
func writeAsync(t *testing.T, w net.Conn, data []byte) {
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = w.Write(data) })
	t.Cleanup(wg.Wait)
}

// linkPair returns a fault table and a connection on its link 1 → 2: the
// writer, and the reading end through a faultConn.
func linkPair(t *testing.T) (*faultTable, link, net.Conn, *faultConn) {
	t.Helper()
	faults := &faultTable{}
	l := link{from: 1, to: 2}
	w, r := faultPair(t, faults, l)
	return faults, l, w, r
}

// sendPattern writes n bytes of pattern(n, seed) to w as writeAsync does
// and returns them.
func sendPattern(t *testing.T, w net.Conn, n int, seed uint64) []byte {
	data := pattern(n, seed)
	writeAsync(t, w, data)
	return data
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// A cut lets exactly n bytes through, counted from the call, then the
// reader gets a reset and so does the writer; later connections work.
func TestCutAfterDeliversExactlyNBytes(t *testing.T) {
	faults, l, w, r := linkPair(t)
	if _, err := w.Write([]byte("before the call")); err != nil {
		t.Fatal(err)
	}
	readN(t, r, len("before the call"))
	const n = 70_000 // spans several of the pump's chunks
	cut := faults.cutAfter(l, n)
	data := sendPattern(t, w, 200_000, 1)
	got, err := readAll(t, r)
	if !bytes.Equal(got, data[:n]) || !isReset(err) {
		t.Fatalf("reader got %d bytes (prefix intact: %v), then %v; want exactly %d, then a reset",
			len(got), bytes.HasPrefix(data, got), err, n)
	}
	waitClosed(t, cut, "the cut's channel")
	if _, err := readAll(t, w); !isReset(err) {
		t.Fatalf("writer's side read %v after the cut, want a reset", err)
	}
	w2, r2 := faultPair(t, faults, l)
	writeAsync(t, w2, data)
	if got := readN(t, r2, len(data)); !bytes.Equal(got, data) {
		t.Fatal("a later connection's bytes were altered")
	}
}

// Bytes are counted per connection: a connection carrying small messages
// on the same link is not cut when the link's total passes n, and the one
// that carries n bytes itself is.
func TestCutAfterCountsEachConnection(t *testing.T) {
	var faults faultTable
	l := link{from: 1, to: 2}
	wSmall, rSmall := faultPair(t, &faults, l)
	wBig, rBig := faultPair(t, &faults, l)
	const n = 50_000
	faults.cutAfter(l, n)
	beat := pattern(100, 2)
	for range 10 {
		if _, err := wSmall.Write(beat); err != nil {
			t.Fatal(err)
		}
		readN(t, rSmall, len(beat))
	}
	data := sendPattern(t, wBig, 120_000, 3)
	if got, err := readAll(t, rBig); !bytes.Equal(got, data[:n]) || !isReset(err) {
		t.Fatalf("big connection delivered %d bytes, then %v; want its first %d, then a reset", len(got), err, n)
	}
	// The link carried 51,000 bytes; the small connection is untouched.
	if _, err := wSmall.Write(beat); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, rSmall, len(beat)); !bytes.Equal(got, beat) {
		t.Fatal("small connection's bytes altered")
	}
}

// CutAfter(0) resets the first connection to carry a byte, before it.
func TestCutAfterZero(t *testing.T) {
	faults, l, w, r := linkPair(t)
	faults.cutAfter(l, 0)
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, r); len(got) != 0 || !isReset(err) {
		t.Fatalf("reader got %q, then %v; want nothing, then a reset", got, err)
	}
}

// A flip inverts exactly the byte at its offset, counted from the call,
// and only once.
func TestFlipByteAltersOneByte(t *testing.T) {
	faults, l, w, r := linkPair(t)
	if _, err := w.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	readN(t, r, len("before"))
	const offset = 40_000
	flipped := faults.flipByte(l, offset)
	data := sendPattern(t, w, 100_000, 4)
	got := readN(t, r, len(data))
	diff := differences(got, data)
	if len(diff) != 1 || diff[0] != offset || got[offset] != ^data[offset] {
		t.Fatalf("bytes differing: %v (want only %d, inverted)", diff, offset)
	}
	waitClosed(t, flipped, "the flip's channel")
	writeAsync(t, w, data)
	if got := readN(t, r, len(data)); !bytes.Equal(got, data) {
		t.Fatal("a spent flip altered more bytes")
	}
}

// differences lists the indexes where a and b differ.
func differences(a, b []byte) []int {
	var out []int
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			out = append(out, i)
		}
	}
	return out
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s not closed", what)
	}
}

// readEvent is one Read: when it started and ended, and how many bytes it
// returned.
type readEvent struct {
	start, end time.Time
	n          int
}

// A stall delivers nothing for its duration to Reads that start after the
// call, keeps the connection open, and then delivers every byte in order.
func TestStallHoldsBytesThenDeliversAll(t *testing.T) {
	faults, l, w, r := linkPair(t)
	// 4 KiB every 10ms for about a second, so bytes arrive throughout.
	data := pattern(100*4096, 5)
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		for i := 0; i < len(data) && werr == nil; i += 4096 {
			_, werr = w.Write(data[i : i+4096])
			time.Sleep(10 * time.Millisecond) // pace the traffic
		}
	})
	defer wg.Wait()
	readN(t, r, 4096)
	const stall = 400 * time.Millisecond
	called := time.Now()
	faults.stall(l, stall)
	returned := time.Now()
	got, events := readTimed(t, r, len(data)-4096)
	wg.Wait()
	if werr != nil {
		t.Fatalf("writer failed during the stall: %v", werr)
	}
	if !bytes.Equal(got, data[4096:]) {
		t.Fatal("bytes after the stall differ from those written")
	}
	checkStall(t, events, called, returned, stall)
}

// readTimed reads n bytes from r, recording every Read.
func readTimed(t *testing.T, r net.Conn, n int) ([]byte, []readEvent) {
	t.Helper()
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, n)
	var events []readEvent
	buf := make([]byte, 64<<10)
	for len(got) < n {
		start := time.Now()
		k, err := r.Read(buf[:min(len(buf), n-len(got))])
		events = append(events, readEvent{start: start, end: time.Now(), n: k})
		got = append(got, buf[:k]...)
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v", len(got), n, err)
		}
	}
	return got, events
}

// checkStall checks that no Read starting after the stall was set
// returned bytes before it ended, and that bytes came again soon after.
func checkStall(t *testing.T, events []readEvent, called, returned time.Time, stall time.Duration) {
	t.Helper()
	end := called.Add(stall)
	var resumed time.Time
	for _, e := range events {
		if e.n == 0 || e.start.Before(returned) {
			continue
		}
		if e.end.Before(end) {
			t.Fatalf("a Read returned %d bytes %v into a %v stall", e.n, e.end.Sub(called), stall)
		}
		if resumed.IsZero() {
			resumed = e.end
		}
	}
	if resumed.IsZero() {
		t.Fatal("no byte read after the stall")
	}
	// A generous margin: the machine may be loaded.
	if late := resumed.Sub(end); late > 2*time.Second {
		t.Fatalf("bytes resumed %v after the stall ended", late)
	}
	t.Logf("bytes resumed %v after the call (stall %v)", resumed.Sub(called), stall)
}

// A stall holds back bytes the pump had already queued for Read, too.
func TestStallHoldsQueuedBytes(t *testing.T) {
	faults, l, w, r := linkPair(t)
	if _, err := w.Write([]byte("queued")); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, "the pump to queue the bytes", func() bool { return len(r.chunks) == 1 })
	const stall = 300 * time.Millisecond
	called := time.Now()
	faults.stall(l, stall)
	if got := readN(t, r, len("queued")); string(got) != "queued" {
		t.Fatalf("read %q", got)
	}
	if took := time.Since(called); took < stall {
		t.Fatalf("queued bytes read %v into a %v stall", took, stall)
	}
}

// Ending a stall early (Stall 0, or a heal) releases the bytes at once.
func TestStallEndsEarly(t *testing.T) {
	faults, l, w, r := linkPair(t)
	faults.stall(l, time.Hour)
	if _, err := w.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, "the bytes to be held", r.held.Load)
	faults.stall(l, 0)
	if got := readN(t, r, len("held")); string(got) != "held" {
		t.Fatalf("read %q", got)
	}
}
