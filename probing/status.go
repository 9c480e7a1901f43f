package probing

import (
	"sync"
	"time"
)

// srttGain is the weight of a new sample in the smoothed round-trip time, the
// alpha of RFC 6298 section 2; xiang90/probing uses the same value.
const srttGain = 0.125

// Status is a live view of one probed id. Every method is safe to call from
// any goroutine, including after the id has been removed; the values then stay
// frozen at their last state.
type Status interface {
	// Total is the number of probes completed since AddHTTP or the last Reset.
	Total() int64
	// Loss is how many of those probes failed.
	Loss() int64
	// Health reports whether the most recent probe succeeded. It is false
	// before the first probe completes.
	Health() bool
	// Err is the cause of the most recent failure, or nil if the most recent
	// probe succeeded or none has completed.
	Err() error
	// SRTT is the smoothed round-trip time of successful probes, or zero
	// before the first one.
	SRTT() time.Duration
	// ClockDiff estimates how far the local clock is ahead of the remote one:
	// local receive time minus the remote's reported time minus SRTT/2. It is
	// negative when the remote clock is ahead.
	ClockDiff() time.Duration
	// StopNotify returns a channel that is closed once the probing loop for
	// this id has exited after Remove or RemoveAll.
	StopNotify() <-chan struct{}
}

// status is the Status of one id. The probing loop writes it; readers call
// the Status methods.
type status struct {
	// Immutable:
	stopc chan struct{} // closed by the probing loop when it exits

	mu struct {
		sync.Mutex
		// Guarded by mu:
		total     int64
		loss      int64
		health    bool
		err       error
		srtt      time.Duration
		clockDiff time.Duration
	}
}

var _ Status = (*status)(nil)

func newStatus() *status {
	return &status{stopc: make(chan struct{})}
}

// Total implements Status.
func (s *status) Total() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.total
}

// Loss implements Status.
func (s *status) Loss() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.loss
}

// Health implements Status.
func (s *status) Health() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.health
}

// Err implements Status.
func (s *status) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.err
}

// SRTT implements Status.
func (s *status) SRTT() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.srtt
}

// ClockDiff implements Status.
func (s *status) ClockDiff() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.clockDiff
}

// StopNotify implements Status.
func (s *status) StopNotify() <-chan struct{} {
	return s.stopc
}

// recordSuccess accounts for a probe that took rtt and whose reply said the
// remote clock read remote; now is the local time the reply was handled.
func (s *status) recordSuccess(now time.Time, rtt time.Duration, remote time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.mu.srtt
	if prev == 0 {
		prev = rtt
	}
	s.mu.srtt = time.Duration((1-srttGain)*float64(prev) + srttGain*float64(rtt))
	s.mu.clockDiff = now.Sub(remote) - s.mu.srtt/2
	s.mu.total++
	s.mu.health = true
	s.mu.err = nil
}

// recordFailure accounts for a probe that failed with err.
func (s *status) recordFailure(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.total++
	s.mu.loss++
	s.mu.health = false
	s.mu.err = err
}

// reset returns the measurements to their state right after AddHTTP.
func (s *status) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.total, s.mu.loss = 0, 0
	s.mu.health, s.mu.err = false, nil
	s.mu.srtt, s.mu.clockDiff = 0, 0
}
