package rafthttp

import (
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// failureType says which channel failed and while doing what.
type failureType struct {
	source string
	action string
}

// peerStatus tracks whether any channel to a peer currently works. All of a
// peer's channels share one; it logs only on transitions.
type peerStatus struct {
	lg      *zap.Logger
	local   types.ID
	id      types.ID
	metrics *metrics

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

func (s *peerStatus) deactivate(failure failureType, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := fmt.Sprintf("failed to %s %s on %s (%s)", failure.action, s.id, failure.source, reason)
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

func (s *peerStatus) isActive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// activeSince is when the peer last became active, or zero while inactive.
func (s *peerStatus) activeSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.since
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
