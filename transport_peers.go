package rafthttp

import (
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// AddPeer adds a member and starts its channels. Invalid URLs, a known ID
// and calls after Stop are logged and ignored; etcd panics on the first
// and last.
func (t *Transport) AddPeer(id types.ID, us []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.usable("AddPeer", id)
	if !ok {
		return
	}
	if _, exists := t.peers[id]; exists {
		return
	}
	urls, err := types.NewURLs(us)
	if err != nil {
		e.lg.Error("ignored AddPeer with invalid URLs", zap.Stringer("remote-peer-id", id),
			zap.Strings("urls", us), zap.Error(err))
		return
	}
	fs := e.leader.Follower(id.String())
	t.peers[id] = startPeer(e, id, urls, fs)
	t.probers.add(id, urls)
	e.lg.Info("added remote peer", zap.Stringer("local-member-id", e.local),
		zap.Stringer("remote-peer-id", id), zap.Strings("remote-peer-urls", us))
}

// AddRemote adds a pipeline-only target for a member that is not a peer.
// It is a no-op for known IDs, invalid URLs and after Stop.
func (t *Transport) AddRemote(id types.ID, us []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.env
	if e == nil {
		return
	}
	if t.peers[id] != nil || t.remotes[id] != nil {
		return
	}
	urls, err := types.NewURLs(us)
	if err != nil {
		e.lg.Warn("ignored AddRemote with invalid URLs", zap.Stringer("remote-peer-id", id),
			zap.Strings("urls", us), zap.Error(err))
		return
	}
	t.remotes[id] = startRemote(e, id, urls)
	e.lg.Info("added new remote peer", zap.Stringer("local-member-id", e.local),
		zap.Stringer("remote-peer-id", id), zap.Strings("remote-peer-urls", us))
}

// RemovePeer stops a member's channels and forgets it. Unknown IDs are
// ignored.
func (t *Transport) RemovePeer(id types.ID) {
	t.mu.Lock()
	p, ok := t.peers[id]
	delete(t.peers, id)
	e := t.env
	if ok {
		// Under the lock, so a concurrent AddPeer of the same ID registers
		// its probes after these are gone.
		t.probers.remove(id)
	}
	t.mu.Unlock()
	if e == nil {
		return
	}
	if !ok {
		e.lg.Warn("skipped removing already removed peer", zap.Stringer("removed-remote-peer-id", id))
		return
	}
	t.removePeer(e, id, p)
}

// RemoveAllPeers removes every member.
func (t *Transport) RemoveAllPeers() {
	t.mu.Lock()
	peers := t.peers
	if peers != nil {
		t.peers = make(map[types.ID]*peer)
	}
	for id := range peers {
		t.probers.remove(id)
	}
	e := t.env
	t.mu.Unlock()
	for id, p := range peers {
		t.removePeer(e, id, p)
	}
}

// removePeer stops a peer already taken out of the map. It runs without
// the lock, so stopping a slow peer never blocks Send to the others.
func (t *Transport) removePeer(e *env, id types.ID, p *peer) {
	p.stop()
	e.leader.RemoveFollower(id.String())
	e.lg.Info("removed remote peer", zap.Stringer("local-member-id", e.local),
		zap.Stringer("removed-remote-peer-id", id))
}

// UpdatePeer replaces a member's URLs. Unknown IDs and invalid URLs are
// logged and ignored.
func (t *Transport) UpdatePeer(id types.ID, us []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.usable("UpdatePeer", id)
	if !ok {
		return
	}
	p, ok := t.peers[id]
	if !ok {
		e.lg.Warn("ignored UpdatePeer for unknown peer", zap.Stringer("remote-peer-id", id))
		return
	}
	urls, err := types.NewURLs(us)
	if err != nil {
		e.lg.Error("ignored UpdatePeer with invalid URLs", zap.Stringer("remote-peer-id", id),
			zap.Strings("urls", us), zap.Error(err))
		return
	}
	p.update(urls)
	t.probers.remove(id)
	t.probers.add(id, urls)
	e.lg.Info("updated remote peer", zap.Stringer("local-member-id", e.local),
		zap.Stringer("updated-remote-peer-id", id), zap.Strings("updated-remote-peer-urls", us))
}

// usable returns the running env, or logs why op cannot proceed.
// Callers hold t.mu.
func (t *Transport) usable(op string, id types.ID) (*env, bool) {
	if t.env == nil {
		// No logger is reachable once stopped; Start was never called or
		// Stop already ran.
		if t.Logger != nil {
			t.Logger.Warn("ignored call on a Transport that is not running",
				zap.String("op", op), zap.Stringer("remote-peer-id", id))
		}
		return nil, false
	}
	return t.env, true
}

// CutPeer drops all traffic to and from a member, keeping connections.
func (t *Transport) CutPeer(id types.ID) { t.pauseOne(id, true) }

// MendPeer undoes CutPeer.
func (t *Transport) MendPeer(id types.ID) { t.pauseOne(id, false) }

func (t *Transport) pauseOne(id types.ID, pause bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	targets := make([]Pausable, 0, 2)
	if p, ok := t.peers[id]; ok {
		targets = append(targets, p)
	}
	if r, ok := t.remotes[id]; ok {
		targets = append(targets, r)
	}
	for _, x := range targets {
		setPaused(x, pause)
	}
}

// Pause drops traffic to and from every peer (not remotes).
func (t *Transport) Pause() { t.pauseAll(true) }

// Resume undoes Pause.
func (t *Transport) Resume() { t.pauseAll(false) }

func (t *Transport) pauseAll(pause bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, p := range t.peers {
		setPaused(p, pause)
	}
}

func setPaused(x Pausable, pause bool) {
	if pause {
		x.Pause()
	} else {
		x.Resume()
	}
}
