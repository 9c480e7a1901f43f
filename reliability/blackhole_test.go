package reliability

import (
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/types"
)

// blackholeReadTimeout is the ConnReadTimeout of the blackhole test,
// shorter than the 5s default to keep the suite fast.
const blackholeReadTimeout = time.Second

// TestBlackholedPeerMarkedInactiveAndRecovers makes member 2 half-open:
// both sides mark the other inactive within ConnReadTimeout + 1s, and
// after healing, member 1's messages reach member 2 again.
func TestBlackholedPeerMarkedInactiveAndRecovers(t *testing.T) {
	c := rafthttptest.NewCluster(t, 2, rafthttptest.WithTransport(func(tr *rafthttp.Transport) {
		tr.ConnReadTimeout = blackholeReadTimeout
		tr.DialRetryFrequency = 10
	}))
	c.WaitAllStreams(t, 5*time.Second)
	active := func(a, b types.ID) bool { return !c.Member(a).Transport().ActiveSince(b).IsZero() }
	rafthttptest.WaitFor(t, 5*time.Second, "both active", func() bool { return active(1, 2) && active(2, 1) })

	c.Blackhole(2)
	limit := blackholeReadTimeout + time.Second
	d1 := rafthttptest.WaitFor(t, limit, "member 1 sees 2 inactive", func() bool { return !active(1, 2) })
	d2 := rafthttptest.WaitFor(t, limit-d1, "member 2 sees 1 inactive", func() bool { return !active(2, 1) })
	t.Logf("blackhole detected by member 1 after %v, by member 2 after %v (ConnReadTimeout %v, limit %v)",
		d1, d1+d2, blackholeReadTimeout, limit)

	c.HealAll()
	healed := time.Now()
	rec := c.Member(2).Recorder()
	before := len(rec.Received(1))
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	sent := 0
	resumed := rafthttptest.WaitFor(t, 3*time.Second, "member 2 hears from 1 after heal", func() bool {
		<-pace.C
		sent++
		c.Member(1).Transport().Send([]*raftpb.Message{newMsg(raftpb.MsgHeartbeat, 1, 2, uint64(sent))})
		return len(rec.Received(1)) > before
	})
	c.WaitStreams(t, 1, 2, 5*time.Second)
	t.Logf("after heal: first message delivered after %v (%d sent by then), all streams up after %v",
		resumed, sent, time.Since(healed))
}
