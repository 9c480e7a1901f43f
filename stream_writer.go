package rafthttp

import (
	"context"
	"github.com/prometheus/client_golang/prometheus"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/stats"
	"github.com/rafthttp/rafthttp/types"
)

// streamWriter writes one peer's messages of one stream type into the
// response of the stream the peer opened to us. A newer connection
// replaces the current one. While no connection is attached the writer is
// not "working" and senders pick another channel; anything that still
// reaches it is reported to raft as unreachable, never dropped silently.
type streamWriter struct {
	env    *env
	lg     *zap.Logger
	typ    streamType
	peerID types.ID
	status *peerStatus
	// followerStats records MsgApp latency on the msgappv2 stream.
	followerStats *stats.FollowerStats

	// sentBytes is this peer's peer_sent_bytes_total series.
	sentBytes prometheus.Counter

	queue *msgQueue
	connc chan *outgoingConn
	// done is closed when run returns; attach uses it to refuse new conns.
	done chan struct{}

	// working is set while a connection is attached; Send reads it for
	// every message, so it is an atomic rather than a locked field.
	working atomic.Bool
}

func newStreamWriter(e *env, lg *zap.Logger, typ streamType, id types.ID, status *peerStatus,
	fs *stats.FollowerStats) *streamWriter {
	return &streamWriter{
		env: e, lg: lg.With(zap.Stringer("stream-writer-type", typ)), typ: typ, peerID: id,
		status: status, followerStats: fs,
		sentBytes: e.metrics.sentBytes.WithLabelValues(id.String()),
		queue:     newMsgQueue(e.cfg.streamBufSize),
		connc:     make(chan *outgoingConn),
		done:      make(chan struct{}),
	}
}

// isWorking reports whether a connection is attached, so that messages
// offered to the writer's queue will be written.
func (w *streamWriter) isWorking() bool {
	return w.working.Load()
}

// offerAll queues as many of ms as fit without blocking and reports how
// many it queued.
func (w *streamWriter) offerAll(ms []*raftpb.Message) int {
	return w.queue.offerAll(ms)
}

func (w *streamWriter) setWorking(v bool) {
	w.working.Store(v)
}

// attach hands conn to the run loop. It returns false if the writer has
// stopped, in which case the caller must close conn.
func (w *streamWriter) attach(conn *outgoingConn) bool {
	select {
	case w.connc <- conn:
		return true
	case <-w.done:
		return false
	}
}

// writerConn is the run loop's view of the attached connection.
type writerConn struct {
	conn *outgoingConn
	enc  encoder
	// unflushed is the bytes and batched the messages written since the
	// last flush.
	unflushed int
	batched   int
}

// run owns the attached connection until ctx is done.
func (w *streamWriter) run(ctx context.Context) {
	defer close(w.done)
	heartbeat := time.NewTicker(w.env.cfg.heartbeatInterval())
	defer heartbeat.Stop()
	var cur *writerConn
	w.lg.Info("started stream writer with remote peer")
	for {
		select {
		case <-w.queue.ready:
			cur = w.writeQueued(cur)
		case <-heartbeat.C:
			cur = w.heartbeat(cur)
		case conn := <-w.connc:
			cur = w.replace(cur, conn)
		case <-cur.peerGone():
			cur = w.peerClosed(cur)
		case <-ctx.Done():
			// Our own shutdown: nothing to warn about.
			if w.closeConn(cur) {
				w.lg.Info("closed TCP streaming connection with remote peer")
			}
			w.lg.Info("stopped TCP streaming connection with remote peer")
			return
		}
	}
}

// replace closes the current connection, if any, and adopts conn.
func (w *streamWriter) replace(cur *writerConn, conn *outgoingConn) *writerConn {
	if w.closeConn(cur) {
		w.lg.Warn("closed TCP streaming connection with remote peer")
	}
	next := &writerConn{conn: conn}
	if w.typ == streamTypeMsgAppV2 {
		next.enc = newMsgAppV2Encoder(conn)
	} else {
		next.enc = newMessageEncoder(conn)
	}
	w.status.activate()
	w.setWorking(true)
	w.lg.Info("established TCP streaming connection with remote peer")
	return next
}

// writeQueued writes everything queued, taking more as long as more
// arrives, and flushes when the queue is empty or the batch is large.
func (w *streamWriter) writeQueued(cur *writerConn) *writerConn {
	for {
		batch := w.queue.take()
		if len(batch) == 0 {
			break
		}
		if cur = w.writeBatch(cur, batch); cur == nil {
			return nil
		}
		if cur.batched > w.env.cfg.streamBufSize/2 {
			if cur = w.flush(cur, "write"); cur == nil {
				return nil
			}
		}
	}
	if cur == nil || cur.batched == 0 {
		return cur
	}
	return w.flush(cur, "write")
}

// writeBatch encodes batch onto the connection without flushing. If the
// connection is gone or fails, the rest of the batch is dropped and
// reported.
func (w *streamWriter) writeBatch(cur *writerConn, batch []*raftpb.Message) *writerConn {
	if cur == nil {
		w.dropUnattached(batch)
		return nil
	}
	start := time.Now()
	select {
	case <-cur.peerGone():
		// Known dead: do not write into it; the batch is lost with what
		// was written since the last flush.
		cur.batched += len(batch)
		w.countAppends(start, appTally{}, batch)
		w.peerClosed(cur)
		return nil
	default:
	}
	var apps appTally // for ServerStats: see countsAppends
	for i, m := range batch {
		cur.batched++
		if err := cur.enc.encode(m); err != nil {
			cur.batched += len(batch) - i - 1 // the rest is lost with it
			w.countAppends(start, apps, batch[i:])
			w.fail(cur, "write", err)
			return nil
		}
		size := cur.enc.lastSize()
		cur.unflushed += size
		if w.countsAppends() {
			apps.count, apps.bytes = apps.count+1, apps.bytes+appStatsSize(m, size)
		}
	}
	w.countAppends(start, apps, nil)
	if w.typ == streamTypeMsgAppV2 && w.followerStats != nil {
		// One clock reading per batch: the encode time is shared out.
		w.followerStats.SuccN(len(batch), time.Since(start))
	}
	return cur
}

// countsAppends reports whether the writer records the MsgApps it takes
// from its queue in ServerStats. Send leaves those it queues on the
// msgappv2 stream to the writer (etcd counts every MsgApp handed to Send
// for a peer): the writer takes them a batch at a time and knows their
// sizes from encoding them, so a Send call pays neither a clock reading
// and a lock nor a walk of each message to size it.
func (w *streamWriter) countsAppends() bool {
	return w.typ == streamTypeMsgAppV2 && w.env.server != nil
}

// appTally counts MsgApps and their bytes for ServerStats.
type appTally struct{ count, bytes int }

// countAppends records MsgApps the writer took from its queue at now in
// ServerStats: encoded, and unencoded, which it could not write.
func (w *streamWriter) countAppends(now time.Time, encoded appTally, unencoded []*raftpb.Message) {
	if !w.countsAppends() {
		return
	}
	count, bytes := appendRequests(unencoded)
	w.env.server.SendAppendReqsAt(now, encoded.count+count, encoded.bytes+bytes)
}

// peerGone is closed when the peer closes the attached connection; nil
// (never ready) without one.
func (cur *writerConn) peerGone() <-chan struct{} {
	if cur == nil {
		return nil
	}
	return cur.conn.peerGone()
}

// peerClosed detaches a connection whose peer has closed it. Messages
// written since the last flush may not have arrived: they are counted and
// reported like those of a failed write.
func (w *streamWriter) peerClosed(cur *writerConn) *writerConn {
	w.lose(cur, "write", errStreamClosedByPeer, cur.batched)
	return nil
}

// heartbeat keeps an attached connection alive.
func (w *streamWriter) heartbeat(cur *writerConn) *writerConn {
	if cur == nil {
		return nil
	}
	if err := cur.enc.encode(linkHeartbeat()); err != nil {
		w.fail(cur, "heartbeat", err)
		return nil
	}
	cur.unflushed += linkHeartbeatSize
	return w.flush(cur, "heartbeat")
}

func (w *streamWriter) flush(cur *writerConn, action string) *writerConn {
	if err := cur.conn.Flush(); err != nil {
		w.fail(cur, action, err)
		return nil
	}
	w.sentBytes.Add(float64(cur.unflushed))
	cur.unflushed, cur.batched = 0, 0
	return cur
}

// fail gives up on a connection after a write or flush error. Every
// message written since the last successful flush may be lost; a failed
// heartbeat counts once, as in etcd.
func (w *streamWriter) fail(cur *writerConn, action string, err error) {
	w.lose(cur, action, err, max(cur.batched, 1))
}

// lose deactivates the peer, counts failures as failed sends, tells raft
// the peer is unreachable if messages may be lost, and closes cur.
func (w *streamWriter) lose(cur *writerConn, action string, err error, failures int) {
	w.status.deactivate(failure{channel: w.typ.String(), action: action}, err.Error())
	if failures > 0 {
		w.env.metrics.sentFailures.WithLabelValues(w.peerID.String()).Add(float64(failures))
	}
	if cur.batched > 0 {
		w.env.raft.ReportUnreachable(uint64(w.peerID))
	}
	w.closeConn(cur)
	w.lg.Warn("lost TCP streaming connection with remote peer", zap.Error(err))
}

// closeConn detaches and closes cur. Messages still queued were meant for
// it; they are dropped and raft is told the peer is unreachable, so it
// resends what matters. It reports whether there was a connection.
func (w *streamWriter) closeConn(cur *writerConn) bool {
	if cur == nil {
		return false
	}
	w.setWorking(false)
	cur.conn.Close()
	dropped := w.discardQueued()
	if dropped > 0 {
		w.lg.Warn("dropped queued messages of a closed stream", zap.Int("count", dropped))
		w.env.metrics.sentFailures.WithLabelValues(w.peerID.String()).Add(float64(dropped))
		w.env.raft.ReportUnreachable(uint64(w.peerID))
	}
	return true
}

// dropUnattached handles messages that raced with the loss of the
// connection they were queued for.
func (w *streamWriter) dropUnattached(batch []*raftpb.Message) {
	if len(batch) == 0 {
		return
	}
	w.countAppends(time.Now(), appTally{}, batch)
	w.lg.Debug("dropped messages queued for a closed stream",
		zap.Stringer("message-type", batch[0].GetType()), zap.Int("count", len(batch)))
	w.env.metrics.sentFailures.WithLabelValues(w.peerID.String()).Add(float64(len(batch)))
	w.env.raft.ReportUnreachable(uint64(w.peerID))
}

// discardQueued empties the queue, counting what it held in ServerStats
// as sent, as etcd counts it at Send, and returns how many messages it
// held.
func (w *streamWriter) discardQueued() int {
	batch := w.queue.take()
	w.countAppends(time.Now(), appTally{}, batch)
	n := len(batch)
	clear(batch)
	return n
}
