package rafthttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"go.etcd.io/raft/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// snapshotSender POSTs a MsgSnap envelope followed by the DB bytes to a
// peer's snapshot endpoint.
type snapshotSender struct {
	env    *env
	lg     *zap.Logger
	peerID types.ID
	picker *urlPicker
	status *peerStatus
	// prefixes remembers a held prefix that did not match our DB.
	prefixes prefixCheck
}

// send uploads m and reports the outcome to raft, the metrics and the
// caller (m.CloseNotify), in that order, so whoever waits on CloseNotify
// finds the others already told. Cancelling ctx aborts the upload.
func (s *snapshotSender) send(ctx context.Context, m *snap.Message) {
	start := time.Now()
	index := m.GetSnapshot().GetMetadata().GetIndex()
	lg := s.lg.With(zap.Uint64("snapshot-index", index),
		zap.Int64("bytes", m.TotalSize), zap.String("size", humanBytes(m.TotalSize)))
	to := s.peerID.String()
	if !s.env.guard.snapSends.tryAcquire() {
		s.refuse(lg, m)
		return
	}
	var err error
	defer func() { m.CloseWithError(err) }() // deferred first, so it runs last
	defer s.env.guard.snapSends.release()
	s.env.metrics.snapshotSendInflights.WithLabelValues(to).Inc()
	defer s.env.metrics.snapshotSendInflights.WithLabelValues(to).Dec()
	lg.Info("sending database snapshot")

	err = s.post(ctx, m)
	if err != nil {
		lg.Warn("failed to send database snapshot", zap.Error(err))
		s.status.deactivate(failure{channel: channelSnapshot, action: "post"}, err.Error())
		s.env.raft.ReportUnreachable(m.GetTo())
		s.env.raft.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
		s.env.metrics.sentFailures.WithLabelValues(to).Inc()
		s.env.metrics.snapshotSendFailures.WithLabelValues(to).Inc()
		return
	}
	s.status.activate()
	s.env.raft.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
	lg.Info("sent database snapshot")
	s.env.metrics.sentBytes.WithLabelValues(to).Add(float64(m.TotalSize))
	s.env.metrics.snapshotSend.WithLabelValues(to).Inc()
	s.env.metrics.snapshotSendSeconds.WithLabelValues(to).Observe(time.Since(start).Seconds())
}

// refuse fails a send over Limits.MaxConcurrentSnapshotSends without
// contacting the peer, whose status is therefore left alone. Raft retries
// the snapshot later.
func (s *snapshotSender) refuse(lg *zap.Logger, m *snap.Message) {
	lg.Warn("refused to send database snapshot", zap.Error(errTooManySnapshotSends))
	s.env.raft.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
	s.env.metrics.snapshotSendFailures.WithLabelValues(s.peerID.String()).Inc()
	m.CloseWithError(errTooManySnapshotSends)
}

// post sends m to the peer: first the offer that tells a rafthttp peer
// from an etcd one, then the upload, through the snapshot extension or
// exactly as etcd sends it.
func (s *snapshotSender) post(ctx context.Context, m *snap.Message) error {
	envelope, err := appendMessageFrame(nil, m.Message)
	if err != nil {
		return err
	}
	var db io.Reader = bytes.NewReader(nil)
	if m.ReadCloser != nil {
		db = m.ReadCloser
	}
	meta := m.GetSnapshot().GetMetadata()
	o := snapOffer{index: meta.GetIndex(), term: meta.GetTerm(), size: m.TotalSize - int64(proto.Size(m.Message))}
	u := s.picker.pick()
	up, err := s.negotiate(ctx, u, o, db)
	if err == nil {
		err = s.upload(ctx, u, envelope, db, o, up)
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		s.picker.unreachable(u)
		return fmt.Errorf("%w: %w", ErrStopped, err)
	case !errors.Is(err, errSnapPrefixDiffs):
		s.picker.unreachable(u)
	}
	return err
}

// negotiate offers o to the peer at u. It returns nil for a peer without
// the extension, else the upload that continues what the peer holds.
func (s *snapshotSender) negotiate(ctx context.Context, u url.URL, o snapOffer, db io.Reader) (*extUpload, error) {
	held, ok, err := s.offer(ctx, u, o)
	if err != nil || !ok {
		return nil, err
	}
	up, err := s.skipHeld(o, held, db)
	if err == nil && up.offset > 0 {
		s.lg.Info("resuming database snapshot", zap.Uint64("snapshot-index", o.index), zap.Int64("offset", up.offset))
		s.env.metrics.snapshotSendResumedBytes.WithLabelValues(s.peerID.String()).Add(float64(up.offset))
	}
	return up, err
}

// upload POSTs the envelope and the DB bytes (after up.offset) as one
// chunked body. It gives up once no byte has moved for the stall timeout,
// or once the receiver has not answered within its allowance after the
// last byte.
func (s *snapshotSender) upload(ctx context.Context, u url.URL, envelope []byte, db io.Reader, o snapOffer, up *extUpload) error {
	cfg := s.env.cfg.snapshot
	reqCtx, watch := startStallWatch(ctx, cfg.stallTimeout)
	defer watch.close()
	tr := s.env.snapshots.transfers.start(s.env, SnapshotSending, s.peerID, o.index, up.start(), o.size)
	defer tr.end()
	body := &sendBody{ctx: reqCtx, r: db, cap: s.env.snapshots.sendCap, watch: watch, tr: tr,
		answerWait: cfg.answerAllowance(o.size)}
	var dbBody io.Reader = body
	var ext *extSendBody
	if up != nil {
		ext = up.body(body, o)
		dbBody = ext
	}
	// io.MultiReader hides the length, so the body goes out chunked, as
	// etcd sends it.
	req, err := s.env.newPostRequest(watch.traced(reqCtx), u, RaftSnapshotPrefix, contentTypeOctetStream,
		io.MultiReader(bytes.NewReader(envelope), dbBody), -1)
	if err != nil {
		return err
	}
	if ext != nil {
		up.extend(req, ext, o, cfg)
	}
	err = s.env.doPost(watchedRoundTripper{rt: s.env.snapshotRt, watch: watch}, req, s.peerID)
	if err != nil && errors.Is(context.Cause(reqCtx), errSnapshotStalled) {
		return fmt.Errorf("%w (nothing moved for %v): %w", errSnapshotStalled, cfg.stallTimeout, err)
	}
	return err
}

// humanBytes renders n in SI units, as etcd's logs do ("1.2 MB").
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
