package rafthttp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/stats"
	"github.com/rafthttp/rafthttp/types"
)

// Peer is a member of the cluster that the Transport talks to. Its methods
// are unexported: only this package implements it, and Transport.Get
// returns it so tests and handlers can reach a member's channels.
type Peer interface {
	attachOutgoingConn(conn *outgoingConn)
	sendAll(msgs []*raftpb.Message) (apps, appBytes int)
	sendSnap(m *snap.Message)
	activeSince() time.Time
	update(urls types.URLs)
	stop()
}

// peer owns every channel to one member: two stream writers (answers to
// streams the member opened to us), two stream readers (streams we open to
// it), a pipeline, a snapshot sender, and the queues that hand received
// messages to raft. All of its goroutines run on wg and end with ctx.
type peer struct {
	env    *env
	lg     *zap.Logger
	id     types.ID
	status *peerStatus
	picker *urlPicker

	msgAppV2Writer *streamWriter
	writer         *streamWriter
	pipeline       *pipeline
	snapSender     *snapshotSender

	paused atomic.Bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
}

var _ Peer = (*peer)(nil)
var _ Pausable = (*peer)(nil)

func startPeer(e *env, id types.ID, urls types.URLs, fs *stats.FollowerStats) *peer {
	lg := e.lg.With(zap.Stringer("local-member-id", e.local), zap.Stringer("remote-peer-id", id))
	lg.Info("starting remote peer")
	status := newPeerStatus(e.lg, e.metrics, e.local, id)
	picker := newURLPicker(urls)
	p := &peer{
		env: e, lg: lg, id: id, status: status, picker: picker,
		msgAppV2Writer: newStreamWriter(e, lg, streamTypeMsgAppV2, id, status, fs),
		writer:         newStreamWriter(e, lg, streamTypeMessage, id, status, fs),
		pipeline:       newPipeline(e, lg, id, picker, status, fs),
		snapSender:     &snapshotSender{env: e, lg: lg, peerID: id, picker: picker, status: status},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.pipeline.start(p.ctx, &p.wg)
	p.wg.Go(func() { p.msgAppV2Writer.run(p.ctx) })
	p.wg.Go(func() { p.writer.run(p.ctx) })
	// Each stream gets its own receive queue, so heartbeats and votes on
	// the message stream never wait behind a backlog of MsgApp; the two
	// streams are separate connections, so no order between them is lost.
	appq, recvq := newMsgQueue(e.cfg.recvBufSize), newMsgQueue(e.cfg.recvBufSize)
	propq := newMsgQueue(e.cfg.propBufSize)
	p.wg.Go(func() { p.processPrioritized(recvq, appq) })
	p.wg.Go(func() { p.process(propq) })
	for typ, q := range map[streamType]*msgQueue{streamTypeMsgAppV2: appq, streamTypeMessage: recvq} {
		r := &streamReader{env: e, lg: lg.With(zap.Stringer("stream-reader-type", typ)), typ: typ,
			peerID: id, picker: picker, status: status, recvq: q, propq: propq, paused: &p.paused,
			receivedBytes: e.metrics.receivedBytes.WithLabelValues(id.String())}
		p.wg.Go(func() { r.run(p.ctx) })
	}
	lg.Info("started remote peer")
	return p
}

// process hands received messages to raft in arrival order. Proposals get
// a loop of their own because Process may block them while there is no
// leader, and that must not hold up votes and heartbeats.
func (p *peer) process(q *msgQueue) {
	for {
		select {
		case <-q.ready:
			p.processAll(q.take())
		case <-p.ctx.Done():
			return
		}
	}
}

// processPrioritized processes both receive queues, urgent first: a
// message on urgent waits for at most one message from bulk.
func (p *peer) processPrioritized(urgent, bulk *msgQueue) {
	for {
		select {
		case <-urgent.ready:
			p.processAll(urgent.take())
			continue
		default:
		}
		select {
		case <-urgent.ready:
			p.processAll(urgent.take())
		case <-bulk.ready:
			p.processBulk(urgent, bulk.take())
		case <-p.ctx.Done():
			return
		}
	}
}

// processBulk processes batch, serving urgent in between whenever it has
// messages.
func (p *peer) processBulk(urgent *msgQueue, batch []*raftpb.Message) {
	for _, m := range batch {
		if len(urgent.ready) > 0 {
			<-urgent.ready
			p.processAll(urgent.take())
		}
		if !p.processOne(m) {
			return
		}
	}
}

// processAll processes batch in order, giving up on the rest if the peer
// stops.
func (p *peer) processAll(batch []*raftpb.Message) {
	for _, m := range batch {
		if !p.processOne(m) {
			return
		}
	}
}

// processOne hands m to raft; it returns false once the peer is stopping.
func (p *peer) processOne(m *raftpb.Message) bool {
	err := p.env.raft.Process(p.ctx, m)
	select {
	case <-p.ctx.Done():
		return false
	default:
	}
	if err != nil {
		p.lg.Warn("failed to process Raft message", zap.Error(err))
	}
	return true
}

// sendAll queues msgs, in order, on the best working channel for each,
// without blocking. Consecutive messages bound for one channel are queued
// together (one lock for a run of MsgApps). A message its channel has no
// room for is dropped and raft is told, so it can retry.
//
// With ServerStats, it returns the count and bytes of the MsgApps among
// msgs for the caller to record there: all of them but those queued on
// the msgappv2 stream, whose writer records them (countsAppends).
func (p *peer) sendAll(msgs []*raftpb.Message) (apps, appBytes int) {
	counting := p.env.server != nil
	if p.paused.Load() {
		if counting {
			return appendRequests(msgs) // etcd counts them before pausing drops them
		}
		return 0, 0
	}
	for len(msgs) > 0 {
		c, name := p.pick(msgs[0])
		run := 1
		for ; run < len(msgs); run++ {
			if next, _ := p.pick(msgs[run]); next != c {
				break
			}
		}
		queued := c.offerAll(msgs[:run])
		for _, m := range msgs[queued:run] {
			p.dropped(m, name)
		}
		if counting {
			uncounted := msgs[:run]
			if c == outbox(p.msgAppV2Writer) {
				uncounted = msgs[queued:run]
			}
			a, b := appendRequests(uncounted)
			apps, appBytes = apps+a, appBytes+b
		}
		msgs = msgs[run:]
	}
	return apps, appBytes
}

// dropped reports m, which its channel had no room for.
func (p *peer) dropped(m *raftpb.Message, channel string) {
	p.env.raft.ReportUnreachable(m.GetTo())
	if m.GetType() == raftpb.MsgSnap {
		p.env.raft.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
	}
	p.lg.Warn("dropped internal Raft message since sending buffer is full",
		zap.Stringer("message-type", m.GetType()),
		zap.String("remote-peer-name", channel),
		zap.Bool("remote-peer-active", p.status.isActive()))
	p.env.metrics.sentFailures.WithLabelValues(p.id.String()).Inc()
}

// pick chooses the channel for m: snapshots always take the pipeline;
// MsgApp prefers the msgappv2 stream; everything else the message stream;
// the pipeline is the fallback while streams are down.
func (p *peer) pick(m *raftpb.Message) (outbox, string) {
	if m.GetType() == raftpb.MsgSnap {
		return p.pipeline, channelPipeline
	}
	if m.GetType() == raftpb.MsgApp && p.msgAppV2Writer.isWorking() {
		return p.msgAppV2Writer, channelStreamMsgAppV2
	}
	if p.writer.isWorking() {
		return p.writer, channelStreamMsg
	}
	return p.pipeline, channelPipeline
}

// outbox is a channel's queue of messages to send.
type outbox interface {
	// offerAll queues as many of ms, in order, as there is room for,
	// without blocking, and reports how many it queued.
	offerAll(ms []*raftpb.Message) int
}

// sendSnap streams a snapshot in the background; its outcome reaches the
// caller through m.CloseNotify and raft through ReportSnapshot.
func (p *peer) sendSnap(m *snap.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		p.env.raft.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		m.CloseWithError(ErrStopped)
		return
	}
	p.wg.Go(func() { p.snapSender.send(p.ctx, m) })
}

func (p *peer) update(urls types.URLs) {
	p.picker.update(urls)
}

// attachOutgoingConn gives a stream the member opened to us to the writer
// of its type. If the peer is stopping, the conn is closed at once.
func (p *peer) attachOutgoingConn(conn *outgoingConn) {
	w := p.writer
	if conn.t == streamTypeMsgAppV2 {
		w = p.msgAppV2Writer
	}
	if !w.attach(conn) {
		conn.Close()
	}
}

func (p *peer) activeSince() time.Time { return p.status.activeSince() }

// Pause drops outgoing messages and discards incoming ones, keeping the
// connections open.
func (p *peer) Pause() { p.paused.Store(true) }

// Resume undoes Pause.
func (p *peer) Resume() { p.paused.Store(false) }

// stop ends every goroutine of the peer and waits for them.
func (p *peer) stop() {
	p.lg.Info("stopping remote peer")
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.status.forget()
	p.lg.Info("stopped remote peer")
}
