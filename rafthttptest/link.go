package rafthttptest

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/rafthttp/rafthttp/types"
)

// link is one direction of traffic between two members: bytes written by
// from and read by to.
type link struct {
	from, to types.ID
}

// linkFaults are the faults applied to one direction of traffic.
type linkFaults struct {
	// blocked discards the direction's bytes: the reader sees silence, the
	// writer sees success, as behind a firewall that drops packets. A
	// connection that lost bytes stays silent after the fault is cleared.
	blocked bool
	// refuseDial makes from's new connections to `to` fail at once.
	refuseDial bool
	latency    time.Duration
	// limiter caps the direction's bandwidth; nil means unlimited.
	limiter *rate.Limiter
	// dropRate is the fraction of messages from→to the receiver's Raft
	// never sees.
	dropRate float64
}

// faultTable holds every link's faults; the zero value has none.
type faultTable struct {
	mu     sync.Mutex
	faults map[link]linkFaults
}

func (t *faultTable) get(l link) linkFaults {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.faults[l]
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
}

func (t *faultTable) clear(l link) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.faults, l)
}

func (t *faultTable) clearAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = nil
}

// newLimiter returns a limiter for bytesPerSec, or nil for no limit. The
// burst admits one full read chunk at a time.
func newLimiter(bytesPerSec int) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSec), max(bytesPerSec, readChunk))
}

// clampFraction keeps a drop rate within [0, 1].
func clampFraction(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return min(max(f, 0), 1)
}
