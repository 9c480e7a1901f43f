package reliability

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/types"
)

// outcome is what became of one message sent to a peer.
type outcome int

const (
	reported    outcome = iota // the sender's Raft got ReportUnreachable
	countedOnly                // only sent_failures_total grew
	delivered                  // the receiver's Raft got it
	vanished                   // no trace at all, within the wait
)

// tally counts outcomes.
type tally map[outcome]int

func (t tally) String() string {
	return fmt.Sprintf("%d reported unreachable, %d only counted in sent_failures_total, "+
		"%d delivered, %d vanished", t[reported], t[countedOnly], t[delivered], t[vanished])
}

// accountant sends messages from member 1 to member 2 one at a time and
// classifies each: with a single message in flight, a ReportUnreachable
// can only be about that message.
type accountant struct {
	t        *testing.T
	c        *rafthttptest.Cluster
	reg      *prometheus.Registry
	sender   *rafthttptest.Recorder
	receiver *rafthttptest.Recorder
	next     uint64
}

// send sends one message, alternating MsgHeartbeat (message stream) and
// MsgApp (msgappv2 stream), and waits up to wait for its outcome.
func (a *accountant) send(wait time.Duration) outcome {
	a.next++
	typ := raftpb.MsgHeartbeat
	if a.next%2 == 0 {
		typ = raftpb.MsgApp
	}
	marker := a.next
	before, failures := len(a.sender.Unreachable()), a.sentFailures()
	a.c.Member(1).Transport().Send([]*raftpb.Message{newMsg(typ, 1, 2, marker)})
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		sc, rc := a.sender.Changed(), a.receiver.Changed()
		switch {
		case len(a.sender.Unreachable()) > before:
			return reported
		case receivedMarker(a.receiver, 1, marker):
			return delivered
		}
		select {
		case <-sc:
		case <-rc:
		case <-deadline.C:
			if a.sentFailures() > failures {
				return countedOnly
			}
			return vanished
		}
	}
}

// sendMany sends n messages paced by a ticker and tallies their outcomes.
func (a *accountant) sendMany(n int, wait time.Duration) tally {
	out := tally{}
	pace := time.NewTicker(10 * time.Millisecond)
	defer pace.Stop()
	for range n {
		<-pace.C
		out[a.send(wait)]++
	}
	return out
}

// newAccountingCluster starts two members retrying dials 10 times a
// second with the given ConnReadTimeout, member 1 exporting its metrics to
// a registry.
func newAccountingCluster(t *testing.T, readTimeout time.Duration) *accountant {
	reg := prometheus.NewRegistry()
	c := rafthttptest.NewCluster(t, 2, rafthttptest.WithTransport(func(tr *rafthttp.Transport) {
		tr.DialRetryFrequency = 10
		tr.ConnReadTimeout = readTimeout
		if tr.ID == 1 {
			tr.Registerer = reg
		}
	}))
	c.WaitAllStreams(t, 5*time.Second)
	return &accountant{t: t, c: c, reg: reg, sender: c.Member(1).Recorder(), receiver: c.Member(2).Recorder()}
}

// stopPeer stops member 2 and waits until member 1 has noticed.
func (a *accountant) stopPeer() time.Duration {
	a.c.StopMember(2)
	return rafthttptest.WaitFor(a.t, 5*time.Second, "member 1 sees 2 inactive", func() bool {
		return a.c.Member(1).Transport().ActiveSince(2).IsZero()
	})
}

func (a *accountant) sentFailures() float64 {
	return metricValue(a.t, a.reg, "peer_sent_failures_total", "To", types.ID(2).String())
}

// TestRestartedPeerStreamsAgain stops a peer, sends to it while it is
// down, and restarts it: every message sent while it was down is reported
// unreachable and counted, and its streams are back within a second of
// the restart. The stream writers detach as soon as member 2 closes its
// streams.
func TestRestartedPeerStreamsAgain(t *testing.T) {
	a := newAccountingCluster(t, time.Second)
	noticed := a.stopPeer()
	// The writers detach from the streams member 2 closed; see
	// TestNoMessageVanishesRightAfterPeerStops for messages sent meanwhile.
	detached := rafthttptest.WaitFor(t, 5*time.Second, "stream writers detach", func() bool {
		return !a.c.Serving(1, 2)
	})
	failures0 := a.sentFailures()
	const sentDown = 40
	down := a.sendMany(sentDown, time.Second)
	// The metric is counted just after ReportUnreachable: let it catch up.
	rafthttptest.WaitFor(t, 2*time.Second, "sent_failures_total catches up", func() bool {
		return a.sentFailures()-failures0 >= float64(down[reported])
	})
	failures := a.sentFailures() - failures0
	t.Logf("member 2 down: member 1 noticed after %v, writers detached after %v more; "+
		"%d sent while down: %v; sent_failures_total +%v", noticed, detached, sentDown, down, failures)
	if down[reported] != sentDown || failures != sentDown {
		t.Errorf("while down: %v, sent_failures_total +%v; want all %d reported and counted",
			down, failures, sentDown)
	}

	restarted := time.Now()
	a.c.RestartMember(2)
	streams := a.c.WaitStreams(t, 1, 2, time.Second)
	const sentUp = 20
	up := a.sendMany(sentUp, 2*time.Second)
	t.Logf("restart: all 4 streams up after %v (limit 1s); then %d sent: %v; all within %v of restart",
		streams, sentUp, up, time.Since(restarted))
	if up[delivered] != sentUp {
		t.Errorf("after restart: %v; want all %d delivered", up, sentUp)
	}
}

// downRightAfterStop stops member 2 and sends 20 messages as soon as
// member 1 reports it inactive, with the default ConnReadTimeout.
func downRightAfterStop(t *testing.T) tally {
	a := newAccountingCluster(t, 0)
	a.stopPeer()
	down := a.sendMany(20, 300*time.Millisecond)
	t.Logf("20 sent right after member 1 saw 2 inactive: %v", down)
	return down
}

// TestNoMessageVanishesRightAfterPeerStops: once the sender knows the
// peer is down, no message may disappear without a trace.
func TestNoMessageVanishesRightAfterPeerStops(t *testing.T) {
	if down := downRightAfterStop(t); down[vanished] != 0 {
		t.Fatalf("%v; want none vanished", down)
	}
}

// TestStreamFlushFailureIsReported: a message lost because a stream's
// flush failed must reach raft as ReportUnreachable, not only the metric.
func TestStreamFlushFailureIsReported(t *testing.T) {
	if down := downRightAfterStop(t); down[countedOnly] != 0 {
		t.Fatalf("%v; want no message only counted in the metric", down)
	}
}
