package rafthttptest

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (dialed, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	if accepted, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	return dialed, accepted
}

// faultPair returns a writer and, for link l of faults, the reading end
// through a faultConn.
func faultPair(t *testing.T, faults *faultTable, l link) (net.Conn, *faultConn) {
	t.Helper()
	w, r := tcpPair(t)
	fc := newFaultConn(r, faults, func() (link, bool) { return l, true }, nil).start()
	t.Cleanup(func() { fc.Close() })
	return w, fc
}

// A blocked link holds a live connection's bytes back and, once healed,
// delivers them in order with what follows, as TCP does after a partition
// heals. Losing them instead would let a stream resume past a gap, where a
// msgappv2 record rebuilds a MsgApp with the wrong log index.
func TestBlockedLinkHoldsBytesUntilHealed(t *testing.T) {
	var faults faultTable
	l := link{from: 1, to: 2}
	w, r := faultPair(t, &faults, l)
	faults.update(l, func(f *linkFaults) { f.blocked = true })
	if _, err := w.Write([]byte("held,")); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, "the blocked bytes to be held", r.held.Load)
	if err := r.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := r.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read across the blocked link = %q, %v; want nothing until the deadline", buf[:n], err)
	}
	faults.clear(l)
	if _, err := w.Write([]byte("after heal")); err != nil {
		t.Fatal(err)
	}
	want := "held,after heal"
	if err := r.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if n, err := io.ReadFull(r, got); err != nil || string(got) != want {
		t.Fatalf("after heal read %q, %v; want %q", got[:n], err, want)
	}
}

// A blocked link stalls the writer once the socket buffers are full,
// instead of taking everything it writes.
func TestBlockedLinkStallsWriter(t *testing.T) {
	var faults faultTable
	l := link{from: 1, to: 2}
	faults.update(l, func(f *linkFaults) { f.blocked = true })
	w, _ := faultPair(t, &faults, l)
	if err := w.SetWriteDeadline(time.Now().Add(500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// Loopback socket buffers hold a few MiB; a taker of every byte would
	// accept the whole 64 MiB before the deadline.
	const limit = 64 << 20
	block := make([]byte, 1<<20)
	written := 0
	var err error
	for written < limit && err == nil {
		var n int
		n, err = w.Write(block)
		written += n
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) || written >= limit {
		t.Fatalf("writing across a blocked link took %d bytes, then %v; want a stall at the deadline", written, err)
	}
	t.Logf("the writer stalled after %d KiB", written>>10)
}
