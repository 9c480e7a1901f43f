package interop

// The performance suite's harness: a pair of Transports of one
// implementation (ours or etcd's) wired back to back over httptest, a raft
// that only counts, and a thin handler wrapper that counts what went over
// which channel so the suite can prove every measured MsgApp took the
// msgappv2 stream. Unlike the interop tap it decodes nothing, so it costs
// both implementations the same few nanoseconds per flush.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	etcdtypes "go.etcd.io/etcd/client/pkg/v3/types"
	etcdrafthttp "go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp"
	etcdsnap "go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	etcdstats "go.etcd.io/etcd/server/v3/etcdserver/api/v2stats"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp"
	oursnap "github.com/rafthttp/rafthttp/snap"
	ourstats "github.com/rafthttp/rafthttp/stats"
	ourtypes "github.com/rafthttp/rafthttp/types"
)

// Member IDs of a benchmark pair: the leader sends, the follower counts.
const (
	leaderID   uint64 = 1
	followerID uint64 = 2
)

// Implementation names, as they appear in sub-benchmark names (impl=...).
const (
	implEtcd   = "etcd"
	implOurs   = "ours"
	implRawTCP = "rawtcp"
)

// benchImpls are the two Transports every case runs, etcd's first.
var benchImpls = []string{implEtcd, implOurs}

// perfRaft implements both Raft interfaces. MsgApps are only counted;
// MsgHeartbeats are answered with a MsgHeartbeatResp through the member's
// own Transport; responses and processed MsgSnaps go to channels. It never
// blocks a Transport.
type perfRaft struct {
	apps atomic.Int64 // MsgApps processed
	// want and wake let one waiter sleep until apps reaches want.
	want atomic.Int64
	wake chan struct{}

	tr     atomic.Pointer[transportImpl] // the member's Transport, for answers
	hbResp chan uint64                   // Commit of each MsgHeartbeatResp
	snaps  chan uint64                   // snapshot index of each MsgSnap

	unreachable  atomic.Int64 // ReportUnreachable calls
	snapFailures atomic.Int64 // ReportSnapshot(Failure) calls
	lost         atomic.Int64 // answers dropped on a full channel
}

func newPerfRaft() *perfRaft {
	return &perfRaft{
		wake:   make(chan struct{}, 1),
		hbResp: make(chan uint64, 1024),
		snaps:  make(chan uint64, 16),
	}
}

// Process counts MsgApps, answers heartbeats and reports the rest.
func (r *perfRaft) Process(_ context.Context, m *raftpb.Message) error {
	switch m.GetType() {
	case raftpb.MsgApp:
		r.countApp()
	case raftpb.MsgHeartbeat:
		r.answerHeartbeat(m)
	case raftpb.MsgHeartbeatResp:
		r.offer(r.hbResp, m.GetCommit())
	case raftpb.MsgSnap:
		r.offer(r.snaps, m.GetSnapshot().GetMetadata().GetIndex())
	}
	return nil
}

// countApp adds one MsgApp and wakes the waiter once its target is met.
func (r *perfRaft) countApp() {
	n := r.apps.Add(1)
	if w := r.want.Load(); w != 0 && n >= w && r.want.CompareAndSwap(w, 0) {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// waitApps blocks until at least target MsgApps were processed or d passes.
// Only one goroutine may wait at a time.
func (r *perfRaft) waitApps(target int64, d time.Duration) error {
	if r.apps.Load() >= target {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		r.want.Store(target)
		if r.apps.Load() >= target {
			r.want.Store(0)
			return nil
		}
		select {
		case <-r.wake:
		case <-timer.C:
			r.want.Store(0)
			return fmt.Errorf("%d MsgApps processed after %v, want %d", r.apps.Load(), d, target)
		}
	}
}

// answerHeartbeat sends the MsgHeartbeatResp raft would send.
func (r *perfRaft) answerHeartbeat(m *raftpb.Message) {
	tr := r.tr.Load()
	if tr == nil {
		return
	}
	(*tr).Send([]*raftpb.Message{{
		Type: raftpb.MsgHeartbeatResp.Enum(), From: proto.Uint64(m.GetTo()), To: proto.Uint64(m.GetFrom()),
		Term: proto.Uint64(m.GetTerm()), Commit: proto.Uint64(m.GetCommit()),
	}})
}

// offer queues v without blocking and counts a loss if c is full.
func (r *perfRaft) offer(c chan uint64, v uint64) {
	select {
	case c <- v:
	default:
		r.lost.Add(1)
	}
}

// IsIDRemoved reports nobody removed.
func (r *perfRaft) IsIDRemoved(uint64) bool { return false }

// ReportUnreachable counts the report: a benchmark run must have none.
func (r *perfRaft) ReportUnreachable(uint64) { r.unreachable.Add(1) }

// ReportSnapshot counts failures.
func (r *perfRaft) ReportSnapshot(_ uint64, status raft.SnapshotStatus) {
	if status == raft.SnapshotFailure {
		r.snapFailures.Add(1)
	}
}

// countSlack bounds how far a stream byte count may lag: net/http buffers
// a response in 2 KiB and 4 KiB buffers, so smaller writes reach the
// socket only at a flush.
const countSlack = 2048

// perfServer sits in front of a member's handler and counts pipeline
// POSTs, running stream handlers and bytes flushed to stream responses.
type perfServer struct {
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]

	pipelinePosts atomic.Int64
	active        [2]atomic.Int64 // running stream handlers, by streamKind
	streamBytes   [2]atomic.Int64 // bytes flushed to stream responses, by streamKind
	flushes       [2]atomic.Int64 // flushes of stream responses, by streamKind
}

// ServeHTTP counts r and passes it on.
func (s *perfServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.handler.Load()
	if h == nil {
		http.Error(w, "member not started", http.StatusServiceUnavailable)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == pathPipeline {
		s.pipelinePosts.Add(1)
	}
	if kind, ok := streamKindOf(r.URL.Path); ok && r.Method == http.MethodGet {
		s.active[kind].Add(1)
		defer s.active[kind].Add(-1)
		w = &countingWriter{ResponseWriter: w, flushed: &s.streamBytes[kind], flushes: &s.flushes[kind]}
	}
	(*h).ServeHTTP(w, r)
}

// activeStreams returns the number of running stream handlers.
func (s *perfServer) activeStreams() int64 {
	return s.active[streamMessage].Load() + s.active[streamMsgAppV2].Load()
}

// countingWriter counts stream bytes without an atomic per small Write:
// the count is published at each flush and whenever countSlack bytes are
// pending, so it lags what reached the socket by less than countSlack.
// Both Transports write and flush a stream from one goroutine at a time.
type countingWriter struct {
	http.ResponseWriter
	pending int64
	flushed *atomic.Int64
	flushes *atomic.Int64 // each flush is at least one write system call
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.pending += int64(len(p))
	if c.pending >= countSlack {
		c.publish()
	}
	return c.ResponseWriter.Write(p)
}

func (c *countingWriter) publish() {
	if c.pending != 0 {
		c.flushed.Add(c.pending)
		c.pending = 0
	}
}

// Flush serves etcd's w.(http.Flusher).
func (c *countingWriter) Flush() {
	c.publish()
	c.flushes.Add(1)
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// FlushError serves http.ResponseController.Flush.
func (c *countingWriter) FlushError() error {
	c.publish()
	c.flushes.Add(1)
	return http.NewResponseController(c.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach deadlines on the connection.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// perfSide is one member: a Transport of one implementation behind a
// perfServer, with a perfRaft (nil if the member drives another Raft).
type perfSide struct {
	id      uint64
	raft    *perfRaft
	server  *perfServer
	snapDir string
	tr      transportImpl
}

// url is the member's peer URL.
func (s *perfSide) url() string { return s.server.srv.URL }

// close stops the Transport, then the server.
func (s *perfSide) close() {
	s.tr.Stop()
	s.server.srv.Close()
}

// startPerfSide starts member id with a perfRaft; the caller closes it.
func startPerfSide(tb testing.TB, impl string, id uint64, snapDir string) *perfSide {
	tb.Helper()
	r := newPerfRaft()
	s := startPerfMember(tb, impl, id, snapDir, r)
	s.raft = r
	r.tr.Store(&s.tr)
	return s
}

// startPerfMember starts member id with r as its Transport's Raft; the
// caller closes it. Its raft field is nil.
func startPerfMember(tb testing.TB, impl string, id uint64, snapDir string, r rafthttp.Raft) *perfSide {
	tb.Helper()
	s := &perfSide{id: id, server: &perfServer{}, snapDir: snapDir}
	s.server.srv = httptest.NewServer(s.server)
	var h http.Handler
	var err error
	switch impl {
	case implOurs:
		h, err = s.startOurs(r)
	case implEtcd:
		h, err = s.startEtcd(r)
	default:
		err = fmt.Errorf("unknown implementation %q", impl)
	}
	if err != nil {
		s.server.srv.Close()
		tb.Fatal(err)
	}
	h = peerMux(h)
	s.server.handler.Store(&h)
	return s
}

// startOurs starts our Transport without a logger.
func (s *perfSide) startOurs(r rafthttp.Raft) (http.Handler, error) {
	urls, err := ourtypes.NewURLs([]string{s.url()})
	if err != nil {
		return nil, err
	}
	id := ourtypes.ID(s.id)
	tr := &rafthttp.Transport{
		ID: id, URLs: urls, ClusterID: ourtypes.ID(clusterID), Raft: r,
		Snapshotter: oursnap.New(zap.NewNop(), s.snapDir),
		ServerStats: ourstats.NewServerStats("ours", id.String()),
		LeaderStats: ourstats.NewLeaderStats(zap.NewNop(), id.String()),
	}
	if err := tr.Start(); err != nil {
		return nil, err
	}
	s.tr = ourTransport{tr}
	return tr.Handler(), nil
}

// startEtcd starts etcd's Transport with a nil Logger.
func (s *perfSide) startEtcd(r etcdrafthttp.Raft) (http.Handler, error) {
	urls, err := etcdtypes.NewURLs([]string{s.url()})
	if err != nil {
		return nil, err
	}
	id := etcdtypes.ID(s.id)
	tr := &etcdrafthttp.Transport{
		ID: id, URLs: urls, ClusterID: etcdtypes.ID(clusterID), Raft: r,
		Snapshotter: etcdsnap.New(zap.NewNop(), s.snapDir),
		ServerStats: etcdstats.NewServerStats("etcd", id.String()),
		LeaderStats: etcdstats.NewLeaderStats(zap.NewNop(), id.String()),
	}
	if err := tr.Start(); err != nil {
		return nil, err
	}
	s.tr = etcdTransport{tr}
	return tr.Handler(), nil
}

// perfPair is a leader and a follower of one implementation, connected.
type perfPair struct {
	impl     string
	leader   *perfSide
	follower *perfSide
	apps     *appDriver
	hbSeq    uint64
	// sendLabels are the leader's pprof labels (see perf_cpu_test.go),
	// which the driver's goroutine wears while it sends.
	sendLabels context.Context
}

// startPerfPair starts and connects a pair, sets up a MsgApp driver for
// entries of entrySize bytes (entries per message), and waits until every
// stream the suite uses carries traffic. It stops at cleanup. Each
// member's goroutines carry the labels impl and side (send or recv).
func startPerfPair(tb testing.TB, impl string, entries, entrySize int) *perfPair {
	tb.Helper()
	p := &perfPair{impl: impl, sendLabels: labelsCtx(labelImpl, impl, labelSide, sideSend)}
	recvLabels := labelsCtx(labelImpl, impl, labelSide, sideRecv)
	withLabels(p.sendLabels, func() { p.leader = startPerfSide(tb, impl, leaderID, tb.TempDir()) })
	tb.Cleanup(p.leader.close)
	withLabels(recvLabels, func() { p.follower = startPerfSide(tb, impl, followerID, tb.TempDir()) })
	tb.Cleanup(p.follower.close)
	l, f := p.leader, p.follower
	withLabels(p.sendLabels, func() { l.tr.addPeer(f.id, f.url()) })
	withLabels(recvLabels, func() { f.tr.addPeer(l.id, l.url()) })
	p.apps = newAppDriver(l, f, entries, entrySize)
	p.waitReady(tb)
	return p
}

// channelCounts is a snapshot of what the pair's servers counted.
type channelCounts struct {
	msgApp    int64 // bytes leader→follower on msgappv2
	appFlush  int64 // flushes of the leader's msgappv2 stream
	message   int64 // bytes leader→follower on the message stream
	reverse   int64 // bytes follower→leader on the message stream
	pipelines int64 // pipeline POSTs in either direction
}

func (p *perfPair) counts() channelCounts {
	l, f := p.leader.server, p.follower.server
	return channelCounts{
		msgApp:    l.streamBytes[streamMsgAppV2].Load(),
		appFlush:  l.flushes[streamMsgAppV2].Load(),
		message:   l.streamBytes[streamMessage].Load(),
		reverse:   f.streamBytes[streamMessage].Load(),
		pipelines: l.pipelinePosts.Load() + f.pipelinePosts.Load(),
	}
}

// waitReady waits until the leader serves both streams to the follower and
// the follower serves its message stream, then sends a MsgApp and a
// heartbeat ping until twice in a row the MsgApp went over msgappv2, the
// ping and its answer over the message streams, and nothing over a pipeline.
func (p *perfPair) waitReady(tb testing.TB) {
	tb.Helper()
	l, f := p.leader.server, p.follower.server
	waitFor(tb, 10*time.Second, p.impl+" streams attached", func() bool {
		return l.active[streamMsgAppV2].Load() > 0 && l.active[streamMessage].Load() > 0 &&
			f.active[streamMessage].Load() > 0
	})
	good := 0
	waitFor(tb, 20*time.Second, p.impl+" traffic on the streams", func() bool {
		before := p.counts()
		if err := p.apps.sendAndDrain(1); err != nil {
			tb.Fatal(err)
		}
		if _, err := p.ping(5 * time.Second); err != nil {
			tb.Fatal(err)
		}
		after := p.counts()
		if after.msgApp > before.msgApp && after.message > before.message &&
			after.reverse > before.reverse && after.pipelines == before.pipelines {
			good++
		} else {
			good = 0
		}
		return good >= 2
	})
}

// ping sends a MsgHeartbeat and waits for the follower's answer; it
// returns the round-trip time.
func (p *perfPair) ping(d time.Duration) (time.Duration, error) {
	p.hbSeq++
	seq := p.hbSeq
	m := &raftpb.Message{
		Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(leaderID), To: proto.Uint64(followerID),
		Term: proto.Uint64(1), Commit: proto.Uint64(seq),
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	start := time.Now()
	p.leader.tr.Send([]*raftpb.Message{m})
	for {
		select {
		case got := <-p.leader.raft.hbResp:
			if got == seq {
				return time.Since(start), nil
			}
		case <-timer.C:
			return 0, fmt.Errorf("%s: no answer to heartbeat %d within %v", p.impl, seq, d)
		}
	}
}

// check verifies the invariants of a finished run: the follower processed
// exactly the MsgApps sent, nothing was reported unreachable or lost, and
// no pipeline POST happened since before (so every MsgApp took a stream).
func (p *perfPair) check(before channelCounts) error {
	var errs []error
	if got, want := p.follower.raft.apps.Load(), p.apps.sent.Load(); got != want {
		errs = append(errs, fmt.Errorf("follower processed %d MsgApps, %d sent", got, want))
	}
	for _, s := range []*perfSide{p.leader, p.follower} {
		if n := s.raft.unreachable.Load(); n != 0 {
			errs = append(errs, fmt.Errorf("member %d: %d ReportUnreachable", s.id, n))
		}
		if n := s.raft.lost.Load(); n != 0 {
			errs = append(errs, fmt.Errorf("member %d: %d answers lost", s.id, n))
		}
	}
	if n := p.counts().pipelines - before.pipelines; n != 0 {
		errs = append(errs, fmt.Errorf("%d pipeline POSTs during the run", n))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", p.impl, err)
	}
	return nil
}

// cpuSplit names the pair's sides for reportCPU: send is the leader's
// Transport and server plus the driver that calls Send (recycling ring
// slots and waiting for the window, a small share); recv is the
// follower's Transport and server, including Process.
func (p *perfPair) cpuSplit() map[string][]string {
	return map[string][]string{
		sideSend: {labelImpl, p.impl, labelSide, sideSend},
		sideRecv: {labelImpl, p.impl, labelSide, sideRecv},
	}
}
