package rafthttp

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// progressLogInterval spaces the progress log lines of one transfer, so a
// long transfer shows it is moving without flooding the log.
const progressLogInterval = 5 * time.Second

// SnapshotDirection says which way a snapshot transfer goes.
type SnapshotDirection int

// The two directions of a snapshot transfer.
const (
	SnapshotSending SnapshotDirection = iota + 1
	SnapshotReceiving
)

func (d SnapshotDirection) String() string {
	switch d {
	case SnapshotSending:
		return "sending"
	case SnapshotReceiving:
		return "receiving"
	default:
		return fmt.Sprintf("SnapshotDirection(%d)", int(d))
	}
}

// SnapshotTransfer describes a snapshot transfer in progress, as returned
// by Transport.SnapshotTransfers.
type SnapshotTransfer struct {
	// Peer is the member at the other end.
	Peer      types.ID
	Direction SnapshotDirection
	// Index is the raft index of the snapshot.
	Index uint64
	// Offset is where in the DB this attempt started: non-zero when it
	// resumed a cut transfer between two rafthttp Transports.
	Offset int64
	// Bytes counts the DB bytes this attempt has moved so far; Offset +
	// Bytes of the DB are done.
	Bytes int64
	// Size is the DB size in bytes, or -1 when it is unknown: a receiver
	// learns it only from a rafthttp sender, not from an etcd one.
	Size int64
	// Started is when this attempt began; LastProgress when its last
	// bytes moved.
	Started, LastProgress time.Time
}

// SnapshotTransfers returns the snapshot transfers in progress in both
// directions, oldest first; nil when there are none or the Transport is
// not running. Poll it to show progress, or to tell a slow transfer from a
// stuck one (LastProgress). The etcd_network_snapshot_*_bytes metrics and
// a log line every few seconds per transfer say the same.
func (t *Transport) SnapshotTransfers() []SnapshotTransfer {
	e := t.handlerEnv()
	if e == nil {
		return nil
	}
	return e.snapshots.transfers.list()
}

// transferSet tracks the transfers of one Transport.
type transferSet struct {
	mu  sync.Mutex
	all map[*transfer]struct{} // guarded by mu
}

// transfer is the progress of one snapshot transfer. One goroutine moves
// its bytes (add); any may read it (snapshot).
type transfer struct {
	// Immutable:
	set      *transferSet
	lg       *zap.Logger
	info     SnapshotTransfer // fixed fields only
	bytes    prometheus.Counter
	inflight prometheus.Gauge

	moved atomic.Int64
	last  atomic.Int64 // UnixNano of the last bytes

	// Owned by the moving goroutine:
	nextLog     time.Time
	loggedAt    time.Time
	loggedBytes int64
}

// start registers a transfer of the snapshot at index with peer, whose DB
// has size bytes (-1: unknown), starting at offset.
func (s *transferSet) start(e *env, dir SnapshotDirection, peer types.ID, index uint64, offset, size int64) *transfer {
	now := time.Now()
	tr := &transfer{set: s, lg: e.lg.With(zap.Stringer("remote-peer-id", peer), zap.Uint64("snapshot-index", index)),
		info:    SnapshotTransfer{Peer: peer, Direction: dir, Index: index, Offset: offset, Size: size, Started: now},
		nextLog: now.Add(progressLogInterval), loggedAt: now}
	if dir == SnapshotSending {
		tr.bytes = e.metrics.snapshotSendBytes.WithLabelValues(peer.String())
		tr.inflight = e.metrics.snapshotSendInflightBytes.WithLabelValues(peer.String())
	} else {
		tr.bytes = e.metrics.snapshotRecvBytes.WithLabelValues(e.fromLabel(peer))
		tr.inflight = e.metrics.snapshotRecvInflightBytes.WithLabelValues(e.fromLabel(peer))
	}
	tr.last.Store(now.UnixNano())
	s.mu.Lock()
	if s.all == nil {
		s.all = make(map[*transfer]struct{})
	}
	s.all[tr] = struct{}{}
	s.mu.Unlock()
	return tr
}

// add counts n more bytes moved and logs progress when it is time.
func (tr *transfer) add(n int) {
	if n <= 0 {
		return
	}
	now := time.Now()
	moved := tr.moved.Add(int64(n))
	tr.last.Store(now.UnixNano())
	tr.bytes.Add(float64(n))
	tr.inflight.Add(float64(n))
	if now.Before(tr.nextLog) {
		return
	}
	tr.logProgress(now, moved)
}

// logProgress logs bytes done, the rate since the last line, and, when the
// size is known, the percentage and the time left at that rate.
func (tr *transfer) logProgress(now time.Time, moved int64) {
	done := tr.info.Offset + moved
	secs := now.Sub(tr.loggedAt).Seconds()
	rate := float64(moved-tr.loggedBytes) / max(secs, 1e-9)
	fields := []zap.Field{zap.Int64("bytes", done), zap.String("size", humanBytes(done)),
		zap.String("rate", humanBytes(int64(rate))+"/s")}
	if size := tr.info.Size; size > 0 {
		fields = append(fields, zap.Int64("total-bytes", size),
			zap.String("percent", fmt.Sprintf("%.1f%%", 100*float64(done)/float64(size))))
		if rate > 0 {
			eta := time.Duration(float64(size-done) / rate * float64(time.Second))
			fields = append(fields, zap.Duration("eta", eta.Round(time.Second)))
		}
	}
	tr.lg.Info(tr.info.Direction.String()+" database snapshot", fields...)
	tr.nextLog, tr.loggedAt, tr.loggedBytes = now.Add(progressLogInterval), now, moved
}

// end unregisters the transfer; its bytes leave the in-flight gauge.
func (tr *transfer) end() {
	tr.inflight.Sub(float64(tr.moved.Load()))
	tr.set.mu.Lock()
	delete(tr.set.all, tr)
	tr.set.mu.Unlock()
}

// snapshot returns the transfer's current state.
func (tr *transfer) snapshot() SnapshotTransfer {
	s := tr.info
	s.Bytes = tr.moved.Load()
	s.LastProgress = time.Unix(0, tr.last.Load())
	return s
}

// list returns every transfer in progress, oldest first.
func (s *transferSet) list() []SnapshotTransfer {
	s.mu.Lock()
	out := make([]SnapshotTransfer, 0, len(s.all))
	for tr := range s.all {
		out = append(out, tr.snapshot())
	}
	s.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}
