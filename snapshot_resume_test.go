package rafthttp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"google.golang.org/protobuf/proto"
)

// stFaults injects faults into the snapshot POSTs leaving a Transport, on
// its connections (test-only; rafthttptest gets the public versions). Each
// POST takes the next plan: cut the connection after that many bytes, or
// flip one byte in the middle of a large write after them. A POST beyond
// the plans goes through untouched. The first POST also stalls for
// pauseFor at each of pauses.
type stFaults struct {
	mu       sync.Mutex
	cuts     []int64
	flips    []int64
	pauses   []int64
	pauseFor time.Duration
	wire     int64 // bytes of snapshot POSTs written, headers included
	posts    int
}

// dial wraps every connection the Transport opens.
func (f *stFaults) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &stFaultConn{Conn: c, f: f}, nil
}

// next returns the plan of a new snapshot POST: cut and flip positions, or
// -1, and where to pause.
func (f *stFaults) next() (cut, flip int64, pauses []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts++
	cut, flip, pauses, f.pauses = -1, -1, f.pauses, nil
	if len(f.cuts) > 0 {
		cut, f.cuts = f.cuts[0], f.cuts[1:]
	}
	if len(f.flips) > 0 {
		flip, f.flips = f.flips[0], f.flips[1:]
	}
	return cut, flip, pauses
}

func (f *stFaults) wrote(n int) {
	f.mu.Lock()
	f.wire += int64(n)
	f.mu.Unlock()
}

func (f *stFaults) stats() (wire int64, posts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wire, f.posts
}

// stFaultConn applies a plan from the POST line on; each connection
// carries one request at a time.
type stFaultConn struct {
	net.Conn
	f         *stFaults
	snap      bool
	written   int64
	cut, flip int64
	pauses    []int64
}

var stSnapPostLine = []byte("POST " + RaftSnapshotPrefix + " HTTP/1.1")

func (c *stFaultConn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("POST ")) || bytes.HasPrefix(b, []byte("GET ")) {
		c.snap = bytes.HasPrefix(b, stSnapPostLine)
		c.written = 0
		if c.snap {
			c.cut, c.flip, c.pauses = c.f.next()
		}
	}
	if !c.snap {
		return c.Conn.Write(b)
	}
	if c.cut >= 0 && c.written+int64(len(b)) > c.cut {
		n, _ := c.Conn.Write(b[:c.cut-c.written])
		c.f.wrote(n)
		c.Conn.Close()
		return n, net.ErrClosed
	}
	if len(c.pauses) > 0 && c.written >= c.pauses[0] {
		c.pauses = c.pauses[1:]
		time.Sleep(c.f.pauseFor)
	}
	if c.flip >= 0 && c.written >= c.flip && len(b) >= 8<<10 {
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0x20
		c.flip = -1
	}
	n, err := c.Conn.Write(b)
	c.written += int64(n)
	c.f.wrote(n)
	return n, err
}

// stPair starts sender 1 dialling through faults and receiver 2 storing
// snapshots in dir; sender and receiver, if not nil, adjust them.
func stPair(t *testing.T, faults *stFaults, sender, receiver func(*Transport)) (a, b *testMember, dir string) {
	t.Helper()
	dir = t.TempDir()
	a = startMember(t, 1, func(tr *Transport) {
		utWithRegistry(tr)
		tr.DialContext = faults.dial
		if sender != nil {
			sender(tr)
		}
	})
	b = startMember(t, 2, func(tr *Transport) {
		utWithRegistry(tr)
		tr.Snapshotter = utSnapshotter(dir)
		if receiver != nil {
			receiver(tr)
		}
	})
	connect(t, a, b)
	return a, b, dir
}

// stSendUntilDone sends the same DB, as raft would after each failure,
// until it arrives; it returns the outcome of each attempt.
func stSendUntilDone(t *testing.T, a *testMember, index uint64, size int64, attempts int) []bool {
	t.Helper()
	var outcomes []bool
	// Room for the long proofs: a gigabyte at 5 MB/s or better.
	within := 20*time.Second + time.Duration(size/5e6)*time.Second
	for range attempts {
		sm := stSnapMessage(index, size)
		a.tr.SendSnapshot(sm)
		ok := utWaitCloseNotify(t, sm, within)
		if outcomes = append(outcomes, ok); ok {
			return outcomes
		}
	}
	t.Fatalf("no success in %d attempts: %v", attempts, outcomes)
	return nil
}

// stSendFails sends a pattern DB that must fail to arrive.
func stSendFails(t *testing.T, a *testMember, index uint64, size int64, what string) {
	t.Helper()
	sm := stSnapMessage(index, size)
	a.tr.SendSnapshot(sm)
	if utWaitCloseNotify(t, sm, 20*time.Second) {
		t.Fatalf("%s was accepted", what)
	}
}

// stCheckDB checks that dir holds exactly the DB of size pattern bytes at
// index, by SHA-256, streaming both sides so a gigabyte costs no memory.
func stCheckDB(t *testing.T, dir string, index uint64, size int) {
	t.Helper()
	want := sha256.New()
	io.Copy(want, &stPattern{n: int64(size)})
	files := utDirFiles(t, dir)
	name := snapDBName(index)
	if len(files) != 1 || files[0] != name {
		t.Fatalf("snapshot dir holds %v, want [%s]", files, name)
	}
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := sha256.New()
	n, err := io.Copy(got, f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("received DB (%d bytes) differs from the sender's (%d bytes)", n, size)
	}
}

func snapDBName(index uint64) string { return fmt.Sprintf("%016x.snap.db", index) }

// A transfer cut three times resumes each time where the receiver's
// durable bytes end: it completes, byte-identical, with about one DB's
// worth of bytes on the wire.
func TestSnapshotResumesAfterCuts(t *testing.T) {
	const size = 4 << 20
	faults := &stFaults{cuts: []int64{size * 3 / 10, size * 3 / 10, size * 3 / 10}}
	a, b, dir := stPair(t, faults, nil, nil)
	outcomes := stSendUntilDone(t, a, 9, size, 6)
	if len(outcomes) != 4 {
		t.Errorf("attempts %v, want three cut and the fourth through", outcomes)
	}
	stCheckDB(t, dir, 9, size)
	wire, posts := faults.stats()
	if wire > size*11/10 {
		t.Errorf("%d bytes on the wire in %d POSTs for a %d-byte DB, want at most 1.1x", wire, posts, size)
	}
	resumed := utMetricValue(t, utGatherer(t, a), "etcd_network_snapshot_send_resumed_bytes_total", map[string]string{"To": "2"})
	if resumed < size/2 {
		t.Errorf("snapshot_send_resumed_bytes_total = %v, want most of the DB", resumed)
	}
	if got := utMetricValue(t, utGatherer(t, b), "etcd_network_snapshot_receive_resumed_bytes_total", map[string]string{"From": "1"}); got != resumed {
		t.Errorf("receiver resumed %v bytes, sender %v", got, resumed)
	}
	// etcd's byte counters, resumed or not: the sender counts the delivered
	// snapshot once, whole; the receiver each attempt's envelope, and the
	// whole DB once.
	to2 := map[string]string{"To": "2"}
	if got, want := utMetricValue(t, utGatherer(t, a), "etcd_network_peer_sent_bytes_total", to2), float64(stSnapMessage(9, size).TotalSize); got != want {
		t.Errorf("peer_sent_bytes_total = %v, want the snapshot's TotalSize %v", got, want)
	}
	envelope := proto.Size(utSnapMsg(9))
	if got, want := utMetricValue(t, utGatherer(t, b), "etcd_network_peer_received_bytes_total", map[string]string{"From": "1"}), float64(len(outcomes)*envelope+size); got != want {
		t.Errorf("peer_received_bytes_total = %v, want %v (%d envelopes and the DB once)", got, want, len(outcomes))
	}
	t.Logf("%d attempts, %d bytes on the wire for %d (%.3fx), %v bytes resumed", len(outcomes), wire, size, float64(wire)/size, resumed)
}

// One flipped byte fails the transfer at the checksum: no file is left,
// raft and the metrics hear of it, and the next attempt starts over and
// succeeds.
func TestSnapshotChecksumCatchesFlippedByte(t *testing.T) {
	const size = 1 << 20
	faults := &stFaults{flips: []int64{size / 2}}
	a, b, dir := stPair(t, faults, nil, nil)
	stSendFails(t, a, 9, size, "a corrupted snapshot")
	waitFor(t, 5*time.Second, "the failure report", func() bool { return len(a.raft.snapshotReports()) == 1 })
	if got := a.raft.snapshotReports()[0]; got != raft.SnapshotFailure {
		t.Errorf("ReportSnapshot(%v), want SnapshotFailure", got)
	}
	waitFor(t, 5*time.Second, "the receiver's dir to be empty", func() bool { return len(utDirFiles(t, dir)) == 0 })
	from1 := map[string]string{"From": "1"}
	for name, want := range map[string]float64{
		"etcd_network_snapshot_receive_checksum_failures": 1,
		"etcd_network_snapshot_receive_failures":          1,
	} {
		if got := utMetricValue(t, utGatherer(t, b), name, from1); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	select {
	case m := <-b.raft.recvc:
		t.Errorf("receiver processed %v from a corrupted snapshot", m)
	default:
	}
	if outcomes := stSendUntilDone(t, a, 9, size, 1); len(outcomes) != 1 {
		t.Errorf("retry outcomes %v", outcomes)
	}
	stCheckDB(t, dir, 9, size)
}
