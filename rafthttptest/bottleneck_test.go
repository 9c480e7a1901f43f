package rafthttptest

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A 1 MB/s link whose queue holds 256 KiB: a full queue takes about
// 262 ms to drain.
const (
	testRate  = 1_000_000
	testQueue = 256 << 10
	queueTime = time.Duration(testQueue) * time.Second / testRate
)

// queuedLink returns a fault table whose link 1 → 2 has the test rate and
// queue, and two connections on it: writers and reading ends.
func queuedLink(t *testing.T) (faults *faultTable, l link, wa, wb net.Conn, ra, rb *faultConn) {
	t.Helper()
	faults = &faultTable{}
	l = link{from: 1, to: 2}
	faults.setQueue(l, testQueue)
	faults.setBandwidth(l, testRate)
	wa, ra = faultPair(t, faults, l)
	wb, rb = faultPair(t, faults, l)
	return faults, l, wa, wb, ra, rb
}

// drain reads r until it has len(want) bytes, counting them in got, and
// reports on done whether they equal want.
func drain(r net.Conn, want []byte, got *atomic.Int64, done chan<- bool) {
	buf := make([]byte, len(want))
	_ = r.SetReadDeadline(time.Now().Add(20 * time.Second))
	for n := 0; n < len(buf); {
		k, err := r.Read(buf[n:])
		n += k
		got.Add(int64(k))
		if err != nil {
			done <- false
			return
		}
	}
	done <- bytes.Equal(buf, want)
}

// timedWrite writes msg to w and returns how long until r delivered it.
func timedWrite(t *testing.T, w, r net.Conn, msg []byte) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, r, len(msg)); !bytes.Equal(got, msg) {
		t.Fatalf("read %q, want %q", got, msg)
	}
	return time.Since(start)
}

// writeBehindFullQueue fills a queue with 2 MiB (about 2.1 s at the
// link's rate) written on bigW and drained from bigR, then times a small
// write from w to r. It returns that wait, how much of the big write was
// still to come then, and a channel that says whether the big write
// arrived whole and in order.
func writeBehindFullQueue(t *testing.T, bigW, bigR, w, r net.Conn, seed uint64) (waited time.Duration, left int64, whole <-chan bool) {
	t.Helper()
	big := sendPattern(t, bigW, 2<<20, seed)
	var got atomic.Int64
	done := make(chan bool, 1)
	var wg sync.WaitGroup
	wg.Go(func() { drain(bigR, big, &got, done) })
	t.Cleanup(wg.Wait)
	// The writer fills the queue within moments; wait a little longer.
	time.Sleep(100 * time.Millisecond)
	waited = timedWrite(t, w, r, []byte("heartbeat"))
	return waited, int64(len(big)) - got.Load(), done
}

// Bytes on one connection wait behind a full queue that another
// connection of the same direction filled, for about the queue's drain
// time but not for the rest of that connection's transfer, and both
// connections' bytes arrive whole and in order.
func TestQueueIsSharedByTheDirection(t *testing.T) {
	_, _, wa, wb, ra, rb := queuedLink(t)
	waited, left, doneA := writeBehindFullQueue(t, wa, ra, wb, rb, 21)
	t.Logf("a small write waited %v behind a %d KiB queue at 1 MB/s (%v to drain); %d KiB of the big write still to come",
		waited, testQueue>>10, queueTime, left>>10)
	// The model makes it at least queueTime; the margin allows for timer
	// slack only downwards, since the write joins a queue already full.
	if waited < queueTime*3/4 {
		t.Errorf("a small write behind a full queue arrived after %v, want at least %v", waited, queueTime*3/4)
	}
	if left < 1<<20 {
		t.Errorf("the small write waited for the big transfer: only %d bytes of it were left", left)
	}
	if !<-doneA {
		t.Error("the big write arrived incomplete or out of order")
	}
}

// With the other connection idle, a small write crosses at once; the
// best of three is taken, so a scheduling pause of the machine does not
// count.
func TestQueueIdleLinkIsPrompt(t *testing.T) {
	_, _, _, wb, _, rb := queuedLink(t)
	best := time.Hour
	for range 3 {
		best = min(best, timedWrite(t, wb, rb, []byte("heartbeat")))
	}
	t.Logf("a small write on an idle 1 MB/s link: %v", best)
	if best > queueTime/2 {
		t.Errorf("a small write on an idle link took %v, want well under the queue's %v", best, queueTime)
	}
}

// A connection waiting to enter a full queue closes promptly, its pump
// stopped (goleak checks in TestMain); the queue does not hold up the
// direction's other connections once it drained.
func TestQueueCloseWhileWaiting(t *testing.T) {
	_, _, wa, wb, ra, rb := queuedLink(t)
	sendPattern(t, wa, 4<<20, 22)
	// Nobody reads ra: its pump fills the queue and then waits to enter it.
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := ra.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v while the pump waited for the queue", took)
	}
	wa.Close() // ends the writer
	// What ra's pump queued before it closed still drains first.
	if waited := timedWrite(t, wb, rb, []byte("after")); waited > 5*queueTime {
		t.Errorf("a write after the close waited %v", waited)
	}
}

// Removing the bandwidth lets bytes waiting for the queue through at once;
// a latency adds to the queue's delay.
func TestQueueHealAndLatency(t *testing.T) {
	faults := &faultTable{}
	l := link{from: 1, to: 2}
	faults.setBandwidth(l, 1000) // a 64 KiB write takes over a minute
	w, r := faultPair(t, faults, l)
	data := sendPattern(t, w, 64<<10, 23)
	time.Sleep(100 * time.Millisecond)
	faults.clear(l)
	if got := readN(t, r, len(data)); !bytes.Equal(got, data) {
		t.Fatal("bytes arrived altered or out of order after Heal")
	}
	faults.setBandwidth(l, testRate)
	const latency = 150 * time.Millisecond
	faults.update(l, func(f *linkFaults) { f.latency = latency })
	if took := timedWrite(t, w, r, []byte("late")); took < latency {
		t.Errorf("a write crossed a link with %v latency in %v", latency, took)
	}
}

// The queue's schedule: first in, first out, at the link's rate, with
// bytes entering only once they fit.
func TestBottleneckSchedule(t *testing.T) {
	b := newBottleneck(testRate, testQueue)
	now := time.Now()
	var last slot
	for sent := 0; sent < 2*testQueue; sent += last.n {
		last = b.reserve(readChunk, now)
		if last.n <= 0 || last.n > readChunk {
			t.Fatalf("a piece of %d bytes", last.n)
		}
	}
	if want := now.Add(queueTime * 2); last.depart.Before(want.Add(-time.Millisecond)) {
		t.Errorf("twice the queue departs at +%v, want +%v", last.depart.Sub(now), want.Sub(now))
	}
	if enter := last.enter.Sub(now); enter < queueTime*9/10 {
		t.Errorf("the last piece enters at +%v, want about +%v (after a queue's worth left)", enter, queueTime)
	}
	small := b.reserve(10, now)
	if !small.depart.After(last.depart) {
		t.Error("a later piece departs before an earlier one")
	}
	if newBottleneck(0, testQueue) != nil {
		t.Error("bandwidth 0 made a bottleneck")
	}
}

// Directions of two Proxies given one Bottleneck share its queue: bytes a
// server sends its client wait behind what another client sent its server.
func TestBottleneckSharedByProxies(t *testing.T) {
	pa, clientA, serverA := proxiedPair(t)
	pb, clientB, serverB := proxiedPair(t)
	b := NewBottleneck(testRate, testQueue)
	pa.ToServer().SetBottleneck(b)
	pb.ToClient().SetBottleneck(b)
	waited, _, done := writeBehindFullQueue(t, clientA, serverA, serverB, clientB, 24)
	t.Logf("a server's answer waited %v behind another proxy's full queue (%v to drain)", waited, queueTime)
	if waited < queueTime*3/4 {
		t.Errorf("bytes through a shared bottleneck arrived after %v, want at least %v", waited, queueTime*3/4)
	}
	if !<-done {
		t.Error("the big write arrived incomplete or out of order")
	}
	if took := timedWrite(t, clientB, serverB, []byte("other way")); took > queueTime/2 {
		t.Errorf("the direction without the bottleneck took %v", took)
	}
}

// A read deadline that passes while bytes cross the link does not make
// them arrive early: the next Read waits for their time again.
func TestDeadlineDoesNotHurryBytes(t *testing.T) {
	_, _, wa, wb, ra, rb := queuedLink(t)
	sendPattern(t, wa, 2<<20, 25)
	var got atomic.Int64
	done := make(chan bool, 1)
	var wg sync.WaitGroup
	wg.Go(func() { drain(ra, pattern(2<<20, 25), &got, done) })
	t.Cleanup(wg.Wait)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if _, err := wb.Write([]byte("hb")); err != nil {
		t.Fatal(err)
	}
	_ = rb.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if n, err := rb.Read(make([]byte, 2)); err == nil {
		t.Fatalf("read %d bytes before the deadline, with a full queue ahead of them", n)
	}
	readN(t, rb, 2)
	if took := time.Since(start); took < queueTime*3/4 {
		t.Errorf("bytes behind a full queue arrived after %v once a deadline had passed, want at least %v", took, queueTime*3/4)
	}
	<-done
}
