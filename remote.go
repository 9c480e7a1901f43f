package rafthttp

import (
	"context"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// remote is a pipeline-only target that is not (yet) a member: it lets a
// newly joined member catch up before it is added as a peer.
type remote struct {
	lg       *zap.Logger
	env      *env
	id       types.ID
	status   *peerStatus
	pipeline *pipeline

	paused atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ Pausable = (*remote)(nil)

func startRemote(e *env, id types.ID, urls types.URLs) *remote {
	lg := e.lg.With(zap.Stringer("local-member-id", e.local), zap.Stringer("remote-peer-id", id))
	status := newPeerStatus(e.lg, e.metrics, e.local, id)
	r := &remote{lg: lg, env: e, id: id, status: status,
		pipeline: newPipeline(e, lg, id, newURLPicker(urls), status, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.pipeline.start(ctx, &r.wg)
	return r
}

// send queues m on the pipeline without blocking; a full queue drops it.
func (r *remote) send(m *raftpb.Message) {
	if r.paused.Load() {
		return
	}
	if r.pipeline.offer(m) {
		return
	}
	msg := "dropped Raft message since sending buffer is full (overloaded network)"
	if r.status.isActive() {
		msg = "dropped internal Raft message since sending buffer is full (overloaded network)"
	}
	r.lg.Warn(msg, zap.Stringer("message-type", m.GetType()),
		zap.Bool("remote-peer-active", r.status.isActive()))
	r.env.metrics.sentFailures.WithLabelValues(r.id.String()).Inc()
}

// Pause drops messages sent to the remote until Resume. Unlike etcd, the
// pipeline keeps running, so pausing never races with sending.
func (r *remote) Pause() { r.paused.Store(true) }

// Resume undoes Pause.
func (r *remote) Resume() { r.paused.Store(false) }

func (r *remote) stop() {
	r.cancel()
	r.wg.Wait()
	r.status.forget()
	r.lg.Info("stopped HTTP pipelining with remote peer")
}
