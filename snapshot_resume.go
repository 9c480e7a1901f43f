package rafthttp

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// Defaults of the bounds on what a receiver keeps of cut transfers.
const (
	// defaultMaxSnapshotPartials allows one cut transfer per member of a
	// five-member cluster, less the receiver.
	defaultMaxSnapshotPartials = 4
	// defaultMaxSnapshotPartialBytes is room for two cut 4 GiB DBs.
	defaultMaxSnapshotPartialBytes = 8 << 30
	// defaultSnapshotPartialMaxAge: raft resends a failed snapshot within
	// seconds; a partial untouched for minutes belongs to a sender that
	// moved on.
	defaultSnapshotPartialMaxAge = 10 * time.Minute
)

// partialKey names the DB a partial file holds the start of: a sender's
// snapshot at (index, term) of size bytes.
type partialKey struct {
	from  types.ID
	offer snapOffer
}

// partial is one cut transfer kept for resuming.
type partial struct {
	key  partialKey
	name string // file name for snap.OpenPartial
	n    int64  // durable bytes in the file
	// state is the checksum's state after the first n bytes
	// (MarshalBinary of newSnapHash's hash).
	state []byte
	busy  bool
	// released is closed when the transfer that made it busy ends.
	released  chan struct{}
	idleSince time.Time
}

// partialStore keeps, per sender, at most one partial DB, within a count,
// a byte and an age bound. Partials are cleaned up on success, when a
// newer snapshot arrives, when the sender starts another DB, when they
// expire, and on Stop; Start removes those a crash left behind.
type partialStore struct {
	// Immutable:
	snap     *snap.Snapshotter // nil: nothing is kept
	lg       *zap.Logger
	maxCount int
	maxBytes int64
	maxAge   time.Duration

	mu     sync.Mutex
	byFrom map[types.ID]*partial // guarded by mu
	closed bool                  // guarded by mu
	expiry *time.Timer           // guarded by mu; armed while partials are idle
	// expiring counts expiry callbacks armed or running, so close can
	// wait for one that already fired.
	expiring sync.WaitGroup
}

func newPartialStore(s *snap.Snapshotter, lg *zap.Logger, l Limits) *partialStore {
	ps := &partialStore{snap: s, lg: lg, byFrom: make(map[types.ID]*partial),
		maxCount: orDefault(l.MaxSnapshotPartials, defaultMaxSnapshotPartials),
		maxBytes: orDefault(l.MaxSnapshotPartialBytes, defaultMaxSnapshotPartialBytes),
		maxAge:   orDefault(l.SnapshotPartialMaxAge, defaultSnapshotPartialMaxAge)}
	if s != nil {
		if err := s.RemovePartials(); err != nil {
			lg.Warn("failed to remove partial snapshot files", zap.Error(err))
		}
	}
	return ps
}

// orDefault is v, or def when v is zero; negative values stay (and mean
// "keep nothing").
func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// keeps reports whether the store keeps partials at all.
func (ps *partialStore) keeps() bool {
	return ps.snap != nil && ps.maxCount > 0 && ps.maxBytes > 0 && ps.maxAge > 0
}

// held says what the store holds of key's DB. A transfer of it still in
// progress (its sender gave up before we noticed) gets up to wait to end.
func (ps *partialStore) held(ctx context.Context, key partialKey, wait time.Duration) snapHeld {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for {
		p := ps.byFrom[key.from]
		switch {
		case p == nil || ps.closed:
			return snapHeld{}
		case p.key != key:
			if !p.busy { // the sender moved on to another DB
				ps.dropLocked(p)
			}
			return snapHeld{}
		case !p.busy:
			return snapHeld{offset: p.n, prefix: sumOfState(p.state)}
		}
		released := p.released
		ps.mu.Unlock()
		select {
		case <-released:
		case <-timer.C:
		case <-ctx.Done():
		}
		ps.mu.Lock()
		if p.busy && ps.byFrom[key.from] == p {
			return snapHeld{}
		}
	}
}

// dropLocked forgets p and removes its file.
func (ps *partialStore) dropLocked(p *partial) {
	if ps.byFrom[p.key.from] == p {
		delete(ps.byFrom, p.key.from)
	}
	if err := ps.snap.RemovePartial(p.name); err != nil {
		ps.lg.Warn("failed to remove partial snapshot file", zap.Error(err))
	}
}

// dropUpTo removes the idle partials of snapshots at or below index, once
// a snapshot at index has been installed.
func (ps *partialStore) dropUpTo(index uint64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.byFrom {
		if !p.busy && p.key.offer.index <= index {
			ps.dropLocked(p)
		}
	}
}

// close removes every idle partial and makes busy ones go when released.
// It returns once no expiry callback is running.
func (ps *partialStore) close() {
	ps.mu.Lock()
	ps.closed = true
	ps.disarmLocked()
	for _, p := range ps.byFrom {
		if !p.busy {
			ps.dropLocked(p)
		}
	}
	ps.mu.Unlock()
	ps.expiring.Wait()
}

// expire drops partials idle for longer than maxAge and re-arms the timer
// for the next one.
func (ps *partialStore) expire() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return
	}
	ps.expireLocked(time.Now())
}

func (ps *partialStore) expireLocked(now time.Time) {
	next := time.Duration(-1)
	for _, p := range ps.byFrom {
		if p.busy {
			continue
		}
		if left := p.idleSince.Add(ps.maxAge).Sub(now); left <= 0 {
			ps.dropLocked(p)
		} else if next < 0 || left < next {
			next = left
		}
	}
	if next < 0 {
		return
	}
	ps.disarmLocked()
	ps.expiring.Add(1)
	ps.expiry = time.AfterFunc(next, func() {
		defer ps.expiring.Done()
		ps.expire()
	})
}

// disarmLocked stops the expiry timer. A callback that already fired
// accounts for itself when it returns.
func (ps *partialStore) disarmLocked() {
	if ps.expiry != nil && ps.expiry.Stop() {
		ps.expiring.Done()
	}
	ps.expiry = nil
}
