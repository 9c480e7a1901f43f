package rafthttp

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// failure says which channel failed and while doing what.
type failure struct {
	channel string // the channel that failed, e.g. "pipeline"
	action  string // what it was doing, e.g. "write"
}

// peerStatus tracks whether any channel to a peer currently works. All of a
// peer's channels share one; it logs only on transitions.
type peerStatus struct {
	id      types.ID
	local   types.ID
	metrics *metrics
	lg      *zap.Logger

	mu     sync.Mutex
	active bool
	since  time.Time
}

func newPeerStatus(lg *zap.Logger, m *metrics, local, id types.ID) *peerStatus {
	return &peerStatus{lg: lg, metrics: m, local: local, id: id}
}

func (s *peerStatus) activate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active {
		return
	}
	s.lg.Info("peer became active", zap.Stringer("peer-id", s.id))
	s.active = true
	s.since = time.Now()
	s.metrics.activePeers.WithLabelValues(s.local.String(), s.id.String()).Inc()
}

func (s *peerStatus) deactivate(failure failure, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := fmt.Sprintf("failed to %s %s on %s (%s)", failure.action, s.id, failure.channel, reason)
	if !s.active {
		s.lg.Debug("peer deactivated again", zap.Stringer("peer-id", s.id), zap.String("error", msg))
		return
	}
	s.lg.Warn("peer became inactive (message send to peer failed)",
		zap.Stringer("peer-id", s.id), zap.String("error", msg))
	s.active = false
	s.since = time.Time{}
	s.metrics.activePeers.WithLabelValues(s.local.String(), s.id.String()).Dec()
	s.metrics.disconnectedPeers.WithLabelValues(s.local.String(), s.id.String()).Inc()
}

// isActive reports whether some channel to the peer currently works.
func (s *peerStatus) isActive() bool { return !s.activeSince().IsZero() }

// activeSince is when the peer last became active, or zero while inactive.
func (s *peerStatus) activeSince() time.Time {
	s.mu.Lock()
	since := s.since
	s.mu.Unlock()
	return since
}

// forget removes the peer's active gauge when the peer goes away, so a
// removed member does not stay counted as active.
func (s *peerStatus) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active {
		s.metrics.activePeers.WithLabelValues(s.local.String(), s.id.String()).Dec()
	}
	s.active = false
	s.since = time.Time{}
}
