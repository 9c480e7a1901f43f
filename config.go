package rafthttp

import (
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rafthttp/rafthttp/stats"
)

// Limits bounds what peers can make the Transport hold. Every zero field
// means etcd's value, noted beside it.
type Limits struct {
	// MaxMessageBytes caps one message on either stream and one pipeline
	// POST body (512 MiB). etcd applies it to the message stream only.
	MaxMessageBytes uint64
	// MaxSnapshotEnvelopeBytes caps the raft message in front of a
	// snapshot's DB bytes (64 MiB). The DB bytes are streamed to disk.
	MaxSnapshotEnvelopeBytes uint64
	// StreamBufSize is each stream writer's queue length (4096).
	StreamBufSize int
	// RecvBufSize is the queue of received messages per peer (4096).
	RecvBufSize int
	// MaxPendingProposals is the queue of received MsgProp per peer (4096).
	MaxPendingProposals int
	// PipelineBufSize is the pipeline's queue length (64).
	PipelineBufSize int
	// PipelineWorkers is the number of concurrent pipeline POSTs (4).
	PipelineWorkers int
	// ProberInterval is the period of health probes (ConnReadTimeout - 1s).
	ProberInterval time.Duration
}

// orDefault returns v, or def if v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newEnv resolves the configuration. Callers hold t.mu.
func (t *Transport) newEnv() (*env, error) {
	cfg, err := t.settings()
	if err != nil {
		return nil, err
	}
	lg := t.Logger
	if lg == nil {
		lg = zap.NewNop()
	}
	m, err := newMetrics(t.Registerer)
	if err != nil {
		return nil, fmt.Errorf("rafthttp: register metrics: %w", err)
	}
	e := &env{
		lg: lg, local: t.ID, cluster: t.ClusterID, urls: t.URLs, raft: t.Raft,
		snapshot: t.Snapshotter, server: t.ServerStats, leader: t.LeaderStats,
		errorc: t.ErrorC, metrics: m, cfg: cfg,
	}
	if e.leader == nil {
		e.leader = stats.NewLeaderStats(lg, t.ID.String())
	}
	e.streamRt, e.pipelineRt, e.snapshotRt, err = newRoundTrippers(t.TLSInfo, t.dialer(), cfg)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// settings fills in every default and checks what must parse.
func (t *Transport) settings() (settings, error) {
	l := t.Limits
	s := settings{
		serverVersion:     orDefault(t.ServerVersion, defaultServerVersion),
		minClusterVersion: orDefault(t.MinClusterVersion, defaultMinClusterVersion),
		dialTimeout:       t.DialTimeout,
		readTimeout:       orDefault(t.ConnReadTimeout, DefaultConnReadTimeout),
		writeTimeout:      orDefault(t.ConnWriteTimeout, DefaultConnWriteTimeout),
		dialRetry:         orDefault(t.DialRetryFrequency, rate.Every(100*time.Millisecond)),
		maxMessageBytes:   orDefault(l.MaxMessageBytes, defaultMaxMessageBytes),
		maxEnvelopeBytes:  orDefault(l.MaxSnapshotEnvelopeBytes, defaultMaxSnapshotEnvelopeBytes),
		streamBufSize:     orDefault(l.StreamBufSize, 4096),
		recvBufSize:       orDefault(l.RecvBufSize, 4096),
		propBufSize:       orDefault(l.MaxPendingProposals, 4096),
		pipelineBufSize:   orDefault(l.PipelineBufSize, 64),
		pipelineWorkers:   orDefault(l.PipelineWorkers, 4),
	}
	s.proberInterval = orDefault(l.ProberInterval, max(s.readTimeout-time.Second, time.Second))
	var err error
	if s.localServer, err = parseMajorMinor(s.serverVersion); err != nil {
		return s, fmt.Errorf("rafthttp: ServerVersion: %w", err)
	}
	if s.localMinCluster, err = parseMajorMinor(s.minClusterVersion); err != nil {
		return s, fmt.Errorf("rafthttp: MinClusterVersion: %w", err)
	}
	return s, nil
}
