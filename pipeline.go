package rafthttp

import (
	"bytes"
	"context"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/stats"
	"github.com/rafthttp/rafthttp/types"
)

// pipeline POSTs one message per request to a peer's /raft endpoint. It is
// the fallback while streams are down and the path every MsgSnap takes.
// A fixed set of workers drains a buffered queue; a failed message is
// reported to raft and not retried.
type pipeline struct {
	env    *env
	lg     *zap.Logger
	peerID types.ID
	picker *urlPicker
	status *peerStatus
	// followerStats is nil for remotes, which raft does not track.
	followerStats *stats.FollowerStats

	msgc chan *raftpb.Message
}

func newPipeline(e *env, lg *zap.Logger, id types.ID, picker *urlPicker, status *peerStatus,
	fs *stats.FollowerStats) *pipeline {
	return &pipeline{
		env: e, lg: lg, peerID: id, picker: picker, status: status, followerStats: fs,
		msgc: make(chan *raftpb.Message, e.cfg.pipelineBufSize),
	}
}

// offer queues m for a worker without blocking; false means the queue is
// full.
func (p *pipeline) offer(m *raftpb.Message) bool {
	select {
	case p.msgc <- m:
		return true
	default:
		return false
	}
}

// offerAll queues ms in order until one does not fit, and reports how
// many it queued.
func (p *pipeline) offerAll(ms []*raftpb.Message) int {
	for i, m := range ms {
		if !p.offer(m) {
			return i
		}
	}
	return len(ms)
}

// start launches the workers on wg; they exit when ctx is done, cancelling
// requests in flight.
func (p *pipeline) start(ctx context.Context, wg *sync.WaitGroup) {
	for range p.env.cfg.pipelineWorkers {
		wg.Go(func() { p.work(ctx) })
	}
	p.lg.Info("started HTTP pipelining with remote peer")
}

func (p *pipeline) work(ctx context.Context) {
	for {
		select {
		case m := <-p.msgc:
			p.deliver(ctx, m)
		case <-ctx.Done():
			return
		}
	}
}

// deliver posts m and tells raft and the metrics how it went.
func (p *pipeline) deliver(ctx context.Context, m *raftpb.Message) {
	start := time.Now()
	data, err := proto.Marshal(m)
	if err == nil {
		err = p.post(ctx, data)
	}
	isApp, isSnap := m.GetType() == raftpb.MsgApp, m.GetType() == raftpb.MsgSnap
	if err != nil {
		p.status.deactivate(failure{channel: channelPipeline, action: "write"}, err.Error())
		if isApp && p.followerStats != nil {
			p.followerStats.Fail()
		}
		p.env.raft.ReportUnreachable(m.GetTo())
		if isSnap {
			p.env.raft.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		}
		p.env.metrics.sentFailures.WithLabelValues(p.peerID.String()).Inc()
		return
	}
	p.status.activate()
	if isApp && p.followerStats != nil {
		p.followerStats.Succ(time.Since(start))
	}
	if isSnap {
		p.env.raft.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
	}
	p.env.metrics.sentBytes.WithLabelValues(p.peerID.String()).Add(float64(len(data)))
}

// post sends one encoded message. On failure the URL is marked unreachable
// so the next attempt tries the peer's next address.
func (p *pipeline) post(ctx context.Context, data []byte) error {
	u := p.picker.pick()
	req, err := p.env.newPostRequest(ctx, u, RaftPrefix, contentTypeProtobuf,
		bytes.NewReader(data), int64(len(data)))
	if err == nil {
		err = p.env.doPost(p.env.pipelineRt, req, p.peerID)
	}
	if err != nil {
		p.picker.unreachable(u)
	}
	return err
}
