package rafthttptest

import (
	"errors"
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

// readWithin reads once from c, giving up after d.
func readWithin(c net.Conn, d time.Duration) (string, error) {
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// A connection that lost bytes to a blocked link must not carry later
// bytes once the link heals: real TCP never delivers past a gap, and a
// stream resumed with records missing could feed raft a MsgApp whose log
// index is wrong. New connections work again.
func TestHealedLinkLeavesConnectionThatLostBytesSilent(t *testing.T) {
	var faults faultTable
	l := link{from: 1, to: 2}
	open := func() (writer net.Conn, reader *faultConn) {
		w, r := tcpPair(t)
		fc := newFaultConn(r, &faults, func() (link, bool) { return l, true }, nil).start()
		t.Cleanup(func() { fc.Close() })
		return w, fc
	}
	w, r := open()
	faults.update(l, func(f *linkFaults) { f.blocked = true })
	if _, err := w.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, "the blocked bytes are discarded", r.lost.Load)
	faults.clear(l)
	if _, err := w.Write([]byte("after heal")); err != nil {
		t.Fatal(err)
	}
	if got, err := readWithin(r, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read on the connection that lost bytes = %q, %v; want nothing until the deadline", got, err)
	}

	w2, r2 := open()
	if _, err := w2.Write([]byte("fresh")); err != nil {
		t.Fatal(err)
	}
	if got, err := readWithin(r2, 5*time.Second); got != "fresh" || err != nil {
		t.Fatalf("Read on a new connection after heal = %q, %v; want %q", got, err, "fresh")
	}
}
