package rafthttp

import (
	"net/http"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/stats"
	"github.com/rafthttp/rafthttp/types"
)

// settings are the Transport's knobs with every default filled in. They
// are fixed at Start.
type settings struct {
	serverVersion     string
	minClusterVersion string
	// localServer and localMinCluster are the parsed forms of the two
	// announced versions, used to judge peers.
	localServer     majorMinor
	localMinCluster majorMinor

	dialTimeout    time.Duration
	readTimeout    time.Duration
	writeTimeout   time.Duration
	dialRetry      rate.Limit
	proberInterval time.Duration

	maxMessageBytes  uint64
	maxEnvelopeBytes uint64

	streamBufSize   int
	recvBufSize     int
	propBufSize     int
	pipelineBufSize int
	pipelineWorkers int

	snapshot snapshotSettings
}

// heartbeatInterval is how often an idle stream writer proves the link is
// alive: three heartbeats fit in the peer's read timeout.
func (s *settings) heartbeatInterval() time.Duration {
	return s.readTimeout / 3
}

// env is what every peer, remote and handler of one Transport shares.
type env struct {
	lg       *zap.Logger
	local    types.ID
	cluster  types.ID
	urls     types.URLs
	raft     Raft
	snapshot *snap.Snapshotter
	server   *stats.ServerStats
	leader   *stats.LeaderStats
	errorc   chan error
	metrics  *metrics
	cfg      settings
	guard    *guard
	// snapshots holds what snapshot transfers share (bandwidth caps).
	snapshots *snapshotShared
	// streamBufs holds the stream writers' buffers while they are idle.
	streamBufs *bufferPool

	// Round trippers for streams, pipeline POSTs and snapshot POSTs; see
	// newRoundTrippers for how they differ.
	streamRt   http.RoundTripper
	pipelineRt http.RoundTripper
	snapshotRt http.RoundTripper
}

// reportCritical hands err to the application without ever blocking.
func (e *env) reportCritical(err error) {
	if e.errorc == nil {
		return
	}
	select {
	case e.errorc <- err:
	default:
		e.lg.Warn("dropped critical error; ErrorC is full", zap.Error(err))
	}
}

// setRequestHeaders adds the headers every request to a peer carries.
func (e *env) setRequestHeaders(h http.Header) {
	h.Set(hdrServerFrom, e.local.String())
	h.Set(hdrServerVersion, e.cfg.serverVersion)
	h.Set(hdrMinClusterVersion, e.cfg.minClusterVersion)
	h.Set(hdrClusterID, e.cluster.String())
	if e.urls != nil {
		h.Set(hdrPeerURLs, e.urls.String())
	}
}
