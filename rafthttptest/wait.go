package rafthttptest

import (
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/types"
)

// pollInterval is how often WaitFor re-checks its condition.
const pollInterval = 5 * time.Millisecond

// WaitFor polls cond until it returns true, failing tb if it does not
// within timeout. It returns how long the wait took.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for !cond() {
		if time.Since(start) > timeout {
			tb.Fatalf("rafthttptest: %s: not true after %v", what, timeout)
		}
		<-ticker.C
	}
	return time.Since(start)
}

// StreamsUp reports whether a serves both stream kinds to b and b serves
// both to a: all four long-lived streams between them are established.
func (c *Cluster) StreamsUp(a, b types.ID) bool {
	return c.Member(a).serving(b) && c.Member(b).serving(a)
}

// Serving reports whether a is serving any stream to b: a's writers
// still hold a stream b opened. It turns false once a's writers have
// detached, for instance after b went away.
func (c *Cluster) Serving(a, b types.ID) bool {
	m := c.Member(a)
	m.mu.Lock()
	t := m.tracker
	m.mu.Unlock()
	return t != nil && t.servingAny(b)
}

// WaitStreams waits until StreamsUp(a, b), failing tb after timeout.
func (c *Cluster) WaitStreams(tb testing.TB, a, b types.ID, timeout time.Duration) time.Duration {
	tb.Helper()
	return WaitFor(tb, timeout, "streams between "+a.String()+" and "+b.String(), func() bool {
		return c.StreamsUp(a, b)
	})
}

// WaitAllStreams waits until every pair of running members has its
// streams up.
func (c *Cluster) WaitAllStreams(tb testing.TB, timeout time.Duration) time.Duration {
	tb.Helper()
	return WaitFor(tb, timeout, "all streams", func() bool {
		for i, a := range c.members {
			for _, b := range c.members[i+1:] {
				if !c.StreamsUp(a.ID, b.ID) {
					return false
				}
			}
		}
		return true
	})
}

// serving reports whether m serves both stream kinds to peer.
func (m *Member) serving(peer types.ID) bool {
	m.mu.Lock()
	t := m.tracker
	m.mu.Unlock()
	return t != nil && t.serving(peer)
}
