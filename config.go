package rafthttp

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rafthttp/rafthttp/stats"
	"github.com/rafthttp/rafthttp/types"
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

	// MaxConcurrentSnapshotSends caps the snapshots this Transport uploads
	// at once, to all peers together (no cap). A send over the cap fails at
	// once, without opening a connection: raft gets
	// ReportSnapshot(SnapshotFailure) and retries later; the peer's status
	// is left alone.
	MaxConcurrentSnapshotSends int
	// MaxConcurrentSnapshotReceives caps the snapshot POSTs this Transport
	// handles at once, from all peers together (no cap). One over the cap
	// is answered 503 before its body is read, which the sender counts as
	// a failed snapshot and retries.
	MaxConcurrentSnapshotReceives int
	// SnapshotStallTimeout is how long a snapshot transfer may go without
	// a byte moving before either side gives up on it (30 s; etcd: 5 s
	// per read on the receiver, no bound on the sender). A transfer is
	// never cut for its total duration. Each write of a snapshot upload
	// may block for a quarter more than it, a backstop behind the stall
	// watch. See docs/snapshots.md.
	SnapshotStallTimeout time.Duration
	// SnapshotSendBytesPerSecond caps the DB bytes per second of all
	// snapshot uploads of this Transport together (no cap, as etcd), so
	// that a large snapshot leaves the link room for heartbeats and
	// appends. SnapshotReceiveBytesPerSecond does the same for snapshots
	// received. Bytes move in bursts of 1/2000 s of the rate, but never
	// less than 1 KiB nor more than 256 KiB.
	SnapshotSendBytesPerSecond    int64
	SnapshotReceiveBytesPerSecond int64
	// A transfer between two rafthttp Transports that is cut leaves its
	// bytes on the receiver, in the Snapshotter's directory, so the next
	// attempt resumes (docs/snapshots.md). MaxSnapshotPartials (4) and
	// MaxSnapshotPartialBytes (8 GiB) bound the cut transfers kept, at
	// most one per sender; the oldest go first. SnapshotPartialMaxAge
	// (10 min) removes one not resumed in that time. A negative value
	// keeps none: every attempt starts from zero, still checksummed.
	MaxSnapshotPartials     int
	MaxSnapshotPartialBytes int64
	SnapshotPartialMaxAge   time.Duration

	// MaxRemotes stops the handlers from learning more remotes from request
	// headers (X-Server-From with X-PeerURLs) once the Transport has this
	// many (no cap). AddRemote calls are not limited.
	MaxRemotes int
}

// guard holds what handlers and senders consult before they take on work
// for a peer: caps on concurrent snapshots and learned remotes, and the
// member identity check. It is built at Start and then only read.
type guard struct {
	snapSends  semaphore
	snapRecvs  semaphore
	maxRemotes int
	// verify is Transport.VerifyPeerIdentity; nil disables the check.
	verify             func(types.ID, *x509.Certificate) error
	identityRejections *prometheus.CounterVec
	// labels bounds the sender labels the handlers create.
	labels *labelSet
}

// newGuard builds the guard from the Transport's fields.
func (t *Transport) newGuard() (*guard, error) {
	f := metricFactory{reg: t.Registerer}
	g := &guard{
		snapSends:  newSemaphore(t.Limits.MaxConcurrentSnapshotSends),
		snapRecvs:  newSemaphore(t.Limits.MaxConcurrentSnapshotReceives),
		maxRemotes: t.Limits.MaxRemotes,
		verify:     t.VerifyPeerIdentity,
		labels:     &labelSet{max: maxSenderLabels, seen: make(map[string]struct{})},
		identityRejections: f.counterVec("peer_identity_rejections_total",
			"The total number of peer requests and stream dials rejected because the peer's certificate does not name the member it claims to be.",
			"Endpoint"),
	}
	if f.err != nil {
		return nil, fmt.Errorf("rafthttp: register metrics: %w", f.err)
	}
	return g, nil
}

// Errors of the concurrency caps in Limits.
var (
	errTooManySnapshotReceives = errors.New("rafthttp: too many concurrent snapshot receives")
	errTooManySnapshotSends    = errors.New("rafthttp: too many concurrent snapshot sends")
)

// semaphore bounds concurrent work; a nil semaphore admits everything.
type semaphore chan struct{}

func newSemaphore(n int) semaphore {
	if n <= 0 {
		return nil
	}
	return make(semaphore, n)
}

// tryAcquire takes a slot if one is free.
func (s semaphore) tryAcquire() bool {
	if s == nil {
		return true
	}
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

// release returns a slot taken by tryAcquire.
func (s semaphore) release() {
	if s != nil {
		<-s
	}
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
		errorc: t.ErrorC, metrics: m, cfg: cfg, streamBufs: &bufferPool{},
		snapshots: newSnapshotShared(t, lg),
	}
	if e.leader == nil {
		e.leader = stats.NewLeaderStats(lg, t.ID.String())
	}
	if e.guard, err = t.newGuard(); err != nil {
		return nil, err
	}
	e.streamRt, e.pipelineRt, e.snapshotRt, err = t.newRoundTrippers(cfg)
	if err != nil {
		return nil, err
	}
	if e.guard.verify != nil {
		e.streamRt = &identityRoundTripper{rt: e.streamRt, verify: e.guard.verify,
			rejections: e.guard.identityRejections}
	}
	return e, nil
}

// settings fills in every default and checks what must parse.
func (t *Transport) settings() (settings, error) {
	l := t.Limits
	s := settings{
		serverVersion:     cmp.Or(t.ServerVersion, defaultServerVersion),
		minClusterVersion: cmp.Or(t.MinClusterVersion, defaultMinClusterVersion),
		dialTimeout:       t.DialTimeout,
		readTimeout:       cmp.Or(t.ConnReadTimeout, DefaultConnReadTimeout),
		writeTimeout:      cmp.Or(t.ConnWriteTimeout, DefaultConnWriteTimeout),
		dialRetry:         cmp.Or(t.DialRetryFrequency, rate.Every(100*time.Millisecond)),
		maxMessageBytes:   cmp.Or(l.MaxMessageBytes, defaultMaxMessageBytes),
		maxEnvelopeBytes:  cmp.Or(l.MaxSnapshotEnvelopeBytes, defaultMaxSnapshotEnvelopeBytes),
		streamBufSize:     cmp.Or(l.StreamBufSize, 4096),
		recvBufSize:       cmp.Or(l.RecvBufSize, 4096),
		propBufSize:       cmp.Or(l.MaxPendingProposals, 4096),
		pipelineBufSize:   cmp.Or(l.PipelineBufSize, 64),
		pipelineWorkers:   cmp.Or(l.PipelineWorkers, 4),
		snapshot:          newSnapshotSettings(l),
	}
	s.proberInterval = cmp.Or(l.ProberInterval, max(s.readTimeout-time.Second, time.Second))
	var err error
	if s.localServer, err = parseMajorMinor(s.serverVersion); err != nil {
		return s, fmt.Errorf("rafthttp: ServerVersion: %w", err)
	}
	if s.localMinCluster, err = parseMajorMinor(s.minClusterVersion); err != nil {
		return s, fmt.Errorf("rafthttp: MinClusterVersion: %w", err)
	}
	return s, nil
}

// Peers choose the sender labels the handlers put on metrics (their
// X-Server-From, the From of what they send, their IP address). Without a
// bound, a client sending a new ID with each request would grow the metric
// registry without limit; past maxSenderLabels distinct values, senders
// share overflowSenderLabel. Real clusters have a handful of members.
const (
	maxSenderLabels     = 1024
	overflowSenderLabel = "other"
)

// labelSet admits a bounded number of distinct label values.
type labelSet struct {
	max  int
	mu   sync.Mutex
	seen map[string]struct{} // guarded by mu
}

// admit returns v if it is known or there is room for it, else
// overflowSenderLabel.
func (s *labelSet) admit(v string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[v]; ok {
		return v
	}
	if len(s.seen) >= s.max {
		return overflowSenderLabel
	}
	s.seen[v] = struct{}{}
	return v
}
