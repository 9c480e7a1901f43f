package rafthttptest

import (
	"math"
	"sync"
	"time"

	"github.com/rafthttp/rafthttp/types"
)

// link is one direction of traffic between two members: bytes written by
// from and read by to.
type link struct {
	from, to types.ID
}

// linkFaults are the faults applied to one direction of traffic.
type linkFaults struct {
	// blocked holds back the direction's bytes: the reader sees silence,
	// the writer sees success until the socket buffers fill, as behind a
	// firewall that drops packets. Once it is cleared the held bytes flow
	// on in order, as TCP's retransmissions would carry them.
	blocked bool
	// refuseDial makes from's new connections to `to` fail at once.
	refuseDial bool
	latency    time.Duration
	// wire is the direction's bandwidth and queue; nil means unlimited.
	wire *bottleneck
	// queue is the depth SetQueue chose, kept for the next bandwidth; 0
	// for the default.
	queue int
	// shared is set when wire is a Bottleneck other directions may use,
	// which SetQueue leaves alone.
	shared bool
	// dropRate is the fraction of messages from→to the receiver's Raft
	// never sees.
	dropRate float64
	// stallUntil holds the direction's bytes back, on every connection,
	// until that time; nothing is closed or lost.
	stallUntil time.Time
	// cut and flip are one-shot faults at a byte offset; nil when unset.
	cut, flip *byteTrigger
}

// stalled reports whether the direction is held back by a stall at now.
func (f linkFaults) stalled(now time.Time) bool { return now.Before(f.stallUntil) }

// faultTable holds every link's faults; the zero value has none.
type faultTable struct {
	mu     sync.Mutex
	faults map[link]linkFaults
	// changed is closed, and replaced, at every change of the table.
	changed chan struct{}
}

func (t *faultTable) get(l link) linkFaults {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.faults[l]
}

// watch returns l's faults and a channel closed at the next change.
func (t *faultTable) watch(l link) (linkFaults, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.changed == nil {
		t.changed = make(chan struct{})
	}
	return t.faults[l], t.changed
}

func (t *faultTable) update(l link, f func(*linkFaults)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.faults == nil {
		t.faults = make(map[link]linkFaults)
	}
	lf := t.faults[l]
	f(&lf)
	t.faults[l] = lf
	t.notifyLocked()
}

// cutAfter arms a one-shot reset of l after n bytes; see Cluster.CutAfter.
func (t *faultTable) cutAfter(l link, n int64) <-chan struct{} {
	// The trigger names the last byte that gets through: -1 for none.
	tr := newByteTrigger(max(n, 0) - 1)
	t.update(l, func(f *linkFaults) { f.cut = tr })
	return tr.fired
}

// flipByte arms a one-shot inversion of the byte at offset; see
// Cluster.FlipByte.
func (t *faultTable) flipByte(l link, offset int64) <-chan struct{} {
	tr := newByteTrigger(max(offset, 0))
	t.update(l, func(f *linkFaults) { f.flip = tr })
	return tr.fired
}

// stall holds l's bytes back for d from now; see Cluster.Stall.
func (t *faultTable) stall(l link, d time.Duration) {
	until := time.Now().Add(d)
	t.update(l, func(f *linkFaults) { f.stallUntil = until })
}

func (t *faultTable) clear(l link) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.faults, l)
	t.notifyLocked()
}

func (t *faultTable) clearAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = nil
	t.notifyLocked()
}

// notifyLocked wakes every watcher; t.mu must be held.
func (t *faultTable) notifyLocked() {
	if t.changed != nil {
		close(t.changed)
		t.changed = nil
	}
}

// setBandwidth gives l a link of bytesPerSec with an empty queue (none
// for 0); see Cluster.SetBandwidth.
func (t *faultTable) setBandwidth(l link, bytesPerSec int) {
	t.update(l, func(f *linkFaults) { f.wire, f.shared = newBottleneck(bytesPerSec, f.queue), false })
}

// setQueue sizes l's queue; see Cluster.SetQueue.
func (t *faultTable) setQueue(l link, bytes int) {
	t.update(l, func(f *linkFaults) {
		f.queue = max(bytes, 0)
		if f.wire != nil && !f.shared {
			f.wire.setDepth(f.queue)
		}
	})
}

// clampFraction keeps a drop rate within [0, 1].
func clampFraction(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return min(max(f, 0), 1)
}
