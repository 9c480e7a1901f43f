package rafthttptest

import (
	"sync"
	"time"
)

// A direction with a bandwidth is one slow link: a single FIFO queue, as in
// a router or a NIC, that every connection of the direction feeds and that
// sends at the link's rate, in arrival order. A heartbeat written behind a
// full queue waits for the whole queue to drain, whichever connection
// filled it, which is how a bulk transfer starves small messages on a real
// link. Back-pressure replaces loss: a connection whose bytes do not fit
// stops reading its socket until they do, so its writer stalls once the
// socket buffers fill, and nothing is dropped or reordered.
const (
	// maxQueue bounds a queue's depth. Each connection's bytes in the queue
	// wait in its chunk backlog, which must hold them (see pieceFor).
	maxQueue = 4 << 20
	// defaultQueueTime is the depth of a queue SetQueue did not size, in
	// time at the link's rate: 100 ms, a router buffer of moderate size.
	defaultQueueTime = 100 * time.Millisecond
	// pieceTime is the link time one reservation takes at most, where the
	// queue depth allows: a read is split so a slow link still delivers its
	// bytes progressively, not one socket read at a time.
	pieceTime = 10 * time.Millisecond
	// maxPiecesQueued is the most pieces one connection has in a full queue
	// when its reads are full (see pieceFor).
	maxPiecesQueued = 64
)

// bottleneck is the queue of one direction. Rather than holding bytes, it
// keeps their schedule: when the link will have sent everything admitted so
// far. Bytes admitted while the link is busy leave after all bytes admitted
// before them, and are handed to the reader when the last of them left.
type bottleneck struct {
	rate float64 // bytes per second, > 0

	mu sync.Mutex
	// depth is how many bytes the queue holds, 0 for the default.
	depth int
	// free is when the link will have sent every byte admitted so far.
	free time.Time
}

// slot is the schedule of one piece: its bytes enter the queue at enter
// and its last byte leaves the link at depart.
type slot struct {
	n             int
	enter, depart time.Time
}

// newBottleneck returns an empty queue of depth bytes (0: the default)
// sending bytesPerSec, or nil for an unlimited direction.
func newBottleneck(bytesPerSec, depth int) *bottleneck {
	if bytesPerSec <= 0 {
		return nil
	}
	return &bottleneck{rate: float64(bytesPerSec), depth: depth}
}

// setDepth resizes the queue for the bytes admitted from now on.
func (b *bottleneck) setDepth(depth int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.depth = depth
}

// reserve schedules the first bytes of n arriving at now, at most one
// piece, behind everything admitted before. The bytes may enter the queue
// once what is ahead of them and they fit in its depth; a piece larger
// than the whole queue enters an empty one.
func (b *bottleneck) reserve(n int, now time.Time) slot {
	b.mu.Lock()
	defer b.mu.Unlock()
	depth := b.depthLocked()
	n = min(n, b.pieceFor(depth))
	start := b.free
	if start.Before(now) {
		start = now
	}
	depart := start.Add(b.duration(n))
	b.free = depart
	return slot{n: n, enter: depart.Add(-b.duration(max(depth, n))), depart: depart}
}

// depthLocked is the queue's depth in bytes; b.mu must be held.
func (b *bottleneck) depthLocked() int {
	if b.depth > 0 {
		return min(b.depth, maxQueue)
	}
	return min(int(b.rate*defaultQueueTime.Seconds()), maxQueue)
}

// pieceFor is the most bytes one reservation takes: pieceTime of the link,
// but at least 1/maxPiecesQueued of the queue so that a connection's share
// of a full queue fits its chunk backlog, and at most one socket read.
func (b *bottleneck) pieceFor(depth int) int {
	p := max(int(b.rate*pieceTime.Seconds()), depth/maxPiecesQueued)
	return min(max(p, 1), readChunk)
}

// duration is how long the link takes to send n bytes.
func (b *bottleneck) duration(n int) time.Duration {
	return time.Duration(float64(n) / b.rate * float64(time.Second))
}

// Bottleneck is a slow link with its FIFO queue that several Proxy
// directions can share, for flows that cross one real link but reach
// different servers: a leader's POSTs to a follower and its answers to the
// follower's stream requests, say, through a Proxy in front of each. (A
// Cluster's connections from one member to another share their link's
// queue already.) It behaves as described at Cluster.SetBandwidth.
type Bottleneck struct{ b *bottleneck }

// NewBottleneck returns an empty queue of queueBytes (at most 4 MiB; 0:
// 100 ms of the rate) in front of a link of bytesPerSec. With
// bytesPerSec <= 0 it is no limit at all.
func NewBottleneck(bytesPerSec, queueBytes int) *Bottleneck {
	return &Bottleneck{b: newBottleneck(bytesPerSec, max(queueBytes, 0))}
}
