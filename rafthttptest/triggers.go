package rafthttptest

import "sync/atomic"

// byteTrigger is a one-shot fault at a byte offset of a link. Each
// connection of the link counts the bytes it passes on from the moment it
// first sees the trigger, so small traffic on other connections of the
// link (stream heartbeats) cannot spend a trigger meant for a large body;
// the first connection whose count reaches the offset fires it, and no
// other connection ever does.
type byteTrigger struct {
	// offset is the byte, counted from 0 on each connection, at which the
	// trigger fires; -1 fires before the first byte.
	offset int64
	// fired is closed when a connection fires the trigger.
	fired   chan struct{}
	claimed atomic.Bool
}

func newByteTrigger(offset int64) *byteTrigger {
	return &byteTrigger{offset: offset, fired: make(chan struct{})}
}

// claim reports whether the caller fires t: true for one caller only.
func (t *byteTrigger) claim() bool {
	if !t.claimed.CompareAndSwap(false, true) {
		return false
	}
	close(t.fired)
	return true
}

// triggerCursor is one connection's view of a link's current trigger of
// one kind. It is owned by the connection's pump.
type triggerCursor struct {
	t *byteTrigger
	// base is how many bytes the connection had passed on when it first
	// saw t.
	base int64
}

// hit reports whether t fires in the next m bytes of a connection that has
// passed on carried bytes so far, and at which index of those m bytes (-1:
// before the first). It claims t, so it reports a hit once per trigger.
func (cur *triggerCursor) hit(t *byteTrigger, carried int64, m int) (int, bool) {
	if t == nil {
		return 0, false
	}
	if cur.t != t {
		*cur = triggerCursor{t: t, base: carried}
	}
	if t.claimed.Load() {
		return 0, false
	}
	at := t.offset - (carried - cur.base)
	if at >= int64(m) || !t.claim() {
		return 0, false
	}
	return int(at), true
}
