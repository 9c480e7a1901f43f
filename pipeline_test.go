package rafthttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/stats"
	"github.com/rafthttp/rafthttp/types"
)

// utFixture is an env built the way Start builds it, with a fresh
// registry and a recording raft, for unit tests of one component.
type utFixture struct {
	env    *env
	raft   *recordingRaft
	reg    *prometheus.Registry
	errorc chan error
}

// utNewFixture builds the env of a Transport with ID 1 in cluster c1.
// mutate may adjust the Transport before its env is built.
func utNewFixture(t *testing.T, mutate func(*Transport)) *utFixture {
	t.Helper()
	f := &utFixture{raft: newRecordingRaft(), reg: prometheus.NewRegistry(), errorc: make(chan error, 1)}
	tr := &Transport{ID: 1, ClusterID: 0xc1, Raft: f.raft, Registerer: f.reg, ErrorC: f.errorc}
	if mutate != nil {
		mutate(tr)
	}
	e, err := tr.newEnv()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		closeIdle(e.streamRt)
		closeIdle(e.pipelineRt)
	})
	f.env = e
	return f
}

// unreachable returns the IDs reported unreachable so far.
func (f *utFixture) unreachable() []uint64 {
	f.raft.mu.Lock()
	defer f.raft.mu.Unlock()
	return append([]uint64(nil), f.raft.unreachable...)
}

// utRoundTripper is a hand-written RoundTripper: each call runs fn.
type utRoundTripper func(*http.Request) (*http.Response, error)

func (fn utRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return fn(req) }

// utResp builds a response with the given status, headers and body.
func utResp(code int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{
		StatusCode: code, Status: http.StatusText(code), Header: header,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
	}
}

// utRecordedRequest is what a utRecorder saw of one request.
type utRecordedRequest struct {
	method, url string
	header      http.Header
	body        []byte
}

// utRecorder records every request and answers each with resp().
type utRecorder struct {
	mu   sync.Mutex
	reqs []utRecordedRequest
	resp func() (*http.Response, error)
}

func (r *utRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, utRecordedRequest{method: req.Method, url: req.URL.String(), header: req.Header.Clone(), body: body})
	r.mu.Unlock()
	if r.resp == nil {
		return utResp(http.StatusNoContent, nil, ""), nil
	}
	return r.resp()
}

func (r *utRecorder) requests() []utRecordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]utRecordedRequest(nil), r.reqs...)
}

// utBlocker blocks every RoundTrip until unblock or until the request's
// context ends, like a peer that accepts the connection and never answers.
type utBlocker struct {
	inflight  atomic.Int64
	unblocked chan struct{}
	once      sync.Once
}

func newUTBlocker() *utBlocker { return &utBlocker{unblocked: make(chan struct{})} }

func (b *utBlocker) RoundTrip(req *http.Request) (*http.Response, error) {
	b.inflight.Add(1)
	defer b.inflight.Add(-1)
	select {
	case <-b.unblocked:
		return utResp(http.StatusNoContent, nil, ""), nil
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}

func (b *utBlocker) unblock() { b.once.Do(func() { close(b.unblocked) }) }

// utMustURLs parses urls or fails the test.
func utMustURLs(t *testing.T, urls ...string) types.URLs {
	t.Helper()
	us, err := types.NewURLs(urls)
	if err != nil {
		t.Fatal(err)
	}
	return us
}

// utPipeline is a pipeline to peer 2 whose workers run until the test ends.
type utPipeline struct {
	*pipeline
	fs     *stats.FollowerStats
	status *peerStatus
	ctx    context.Context
	cancel context.CancelFunc
	wg     *sync.WaitGroup
}

// run starts the workers; they stop when the test ends.
func (p *utPipeline) run() { p.start(p.ctx, p.wg) }

// utNewPipeline builds a pipeline over rt; start says whether its workers
// run.
func utNewPipeline(t *testing.T, f *utFixture, rt http.RoundTripper, start bool) *utPipeline {
	t.Helper()
	f.env.pipelineRt = rt
	fs := &stats.FollowerStats{}
	status := newPeerStatus(f.env.lg, f.env.metrics, f.env.local, 2)
	p := newPipeline(f.env, f.env.lg, 2, newURLPicker(utMustURLs(t, "http://localhost:2380")), status, fs)
	ctx, cancel := context.WithCancel(context.Background())
	up := &utPipeline{pipeline: p, fs: fs, status: status, ctx: ctx, cancel: cancel, wg: &sync.WaitGroup{}}
	if start {
		up.run()
	}
	t.Cleanup(func() {
		cancel()
		up.wg.Wait()
	})
	return up
}

func (p *utPipeline) counts() stats.CountsStats {
	p.fs.Lock()
	defer p.fs.Unlock()
	return p.fs.Counts
}

func TestPipelinePostsMessageWithProtocolHeaders(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) {
		tr.URLs = utMustURLs(t, "http://10.0.0.2:2380", "http://10.0.0.1:2380")
	})
	rec := &utRecorder{}
	p := utNewPipeline(t, f, rec, true)

	m := msg(raftpb.MsgApp, 1, 2, 3)
	m.Entries = []*raftpb.Entry{{Term: proto.Uint64(3), Index: proto.Uint64(7), Data: []byte("data")}}
	p.msgc <- m
	// Counting the bytes is the last thing a worker does for a message.
	waitFor(t, 5*time.Second, "the MsgApp to be posted and counted", func() bool {
		return utMetricValue(t, f.reg, "etcd_network_peer_sent_bytes_total", map[string]string{"To": "2"}) > 0
	})

	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	req := reqs[0]
	if req.method != http.MethodPost || req.url != "http://localhost:2380/raft" {
		t.Errorf("request = %s %s, want POST http://localhost:2380/raft", req.method, req.url)
	}
	wantHeaders := map[string]string{
		"Content-Type":          "application/protobuf",
		"X-Server-From":         "1",
		"X-Server-Version":      defaultServerVersion,
		"X-Min-Cluster-Version": "3.0.0",
		"X-Etcd-Cluster-ID":     "c1",
		"X-PeerURLs":            "http://10.0.0.1:2380,http://10.0.0.2:2380",
	}
	for k, want := range wantHeaders {
		if got := req.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if req.header.Get(hdrRaftTo) != "" {
		t.Errorf("pipeline POST carries X-Raft-To %q; only stream dials do", req.header.Get(hdrRaftTo))
	}
	want, _ := proto.Marshal(m)
	if !bytes.Equal(req.body, want) {
		t.Errorf("body = %x, want the bare protobuf %x", req.body, want)
	}
	if got := p.counts(); got.Success != 1 || got.Fail != 0 {
		t.Errorf("Counts = %+v, want 1 success and no failure", got)
	}
	if !p.status.isActive() {
		t.Error("a successful post did not mark the peer active")
	}
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_bytes_total", map[string]string{"To": "2"}); got != float64(len(want)) {
		t.Errorf("peer_sent_bytes_total = %v, want %d", got, len(want))
	}
}

func TestPipelineKeepsSendingWhenEveryPostFails(t *testing.T) {
	f := utNewFixture(t, nil)
	var calls atomic.Int64
	rt := utRoundTripper(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errors.New("connection refused")
	})
	p := utNewPipeline(t, f, rt, false)

	const apps, snaps = 40, 10
	for range apps {
		p.msgc <- msg(raftpb.MsgApp, 1, 2, 1)
	}
	for range snaps {
		p.msgc <- msg(raftpb.MsgSnap, 1, 2, 1)
	}
	p.run()

	// Counting the failure is the last thing a worker does for a message.
	waitFor(t, 5*time.Second, "every queued message to be attempted", func() bool {
		return utMetricValue(t, f.reg, "etcd_network_peer_sent_failures_total", map[string]string{"To": "2"}) == apps+snaps
	})
	if got := calls.Load(); got != apps+snaps {
		t.Errorf("%d posts attempted, want %d", got, apps+snaps)
	}
	if got := len(f.unreachable()); got != apps+snaps {
		t.Errorf("%d unreachable reports, want %d", got, apps+snaps)
	}
	for _, id := range f.unreachable() {
		if id != 2 {
			t.Fatalf("ReportUnreachable(%d), want 2", id)
		}
	}
	if got := p.counts().Fail; got != apps {
		t.Errorf("Counts.Fail = %d, want %d (one per MsgApp)", got, apps)
	}
	reports := f.raft.snapshotReports()
	if len(reports) != snaps {
		t.Fatalf("got %d snapshot reports, want %d", len(reports), snaps)
	}
	for _, r := range reports {
		if r != raft.SnapshotFailure {
			t.Errorf("ReportSnapshot(%v), want SnapshotFailure", r)
		}
	}
	if p.status.isActive() {
		t.Error("peer is active after only failures")
	}
}

func TestPipelineReportsSnapshotFinish(t *testing.T) {
	f := utNewFixture(t, nil)
	p := utNewPipeline(t, f, &utRecorder{}, true)
	p.msgc <- msg(raftpb.MsgSnap, 1, 2, 1)
	waitFor(t, 5*time.Second, "a snapshot report", func() bool { return len(f.raft.snapshotReports()) == 1 })
	if got := f.raft.snapshotReports()[0]; got != raft.SnapshotFinish {
		t.Errorf("ReportSnapshot(%v), want SnapshotFinish", got)
	}
	if got := f.unreachable(); len(got) != 0 {
		t.Errorf("ReportUnreachable%v after a successful post", got)
	}
}

func TestPipelinePostResponses(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		body      string
		rtErr     error
		wantErr   error  // matched with errors.Is when set
		wantText  string // substring of the error when set
		wantFatal bool   // errMemberRemoved reaches ErrorC
	}{
		{name: "204 is success", code: http.StatusNoContent},
		{name: "200 is unexpected", code: http.StatusOK, wantText: "unexpected http status OK"},
		{name: "201 is unexpected", code: http.StatusCreated, wantText: "unexpected http status Created"},
		{name: "500 is unexpected", code: http.StatusInternalServerError, wantText: "unexpected http status Internal Server Error"},
		{name: "400 is unexpected", code: http.StatusBadRequest, wantText: `while posting to "http://localhost:2380/raft"`},
		{name: "403 means removed", code: http.StatusForbidden, wantErr: errMemberRemoved, wantFatal: true},
		{name: "412 incompatible version", code: http.StatusPreconditionFailed, body: "incompatible version\n", wantErr: errIncompatibleVersion},
		{name: "412 cluster ID mismatch", code: http.StatusPreconditionFailed, body: "cluster ID mismatch\n", wantErr: ErrClusterIDMismatch},
		{name: "412 other body", code: http.StatusPreconditionFailed, body: "teapot\n", wantText: `unhandled error "teapot" when precondition failed`},
		{name: "round trip error", rtErr: errors.New("dial tcp: refused"), wantText: "dial tcp: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := utNewFixture(t, nil)
			rt := utRoundTripper(func(*http.Request) (*http.Response, error) {
				if tt.rtErr != nil {
					return nil, tt.rtErr
				}
				return utResp(tt.code, nil, tt.body), nil
			})
			p := utNewPipeline(t, f, rt, false)
			p.picker.update(utMustURLs(t, "http://localhost:2380", "http://localhost:2381"))

			err := p.post(context.Background(), []byte{0x08, 0x08})
			success := tt.wantErr == nil && tt.wantText == ""
			switch {
			case success && err != nil:
				t.Fatalf("post() = %v, want nil", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("post() = %v, want %v", err, tt.wantErr)
			case tt.wantText != "" && (err == nil || !strings.Contains(err.Error(), tt.wantText)):
				t.Fatalf("post() = %v, want an error containing %q", err, tt.wantText)
			}
			// A failure moves the picker on to the next URL.
			wantURL := "http://localhost:2380"
			if !success {
				wantURL = "http://localhost:2381"
			}
			if got := p.picker.pick(); got.String() != wantURL {
				t.Errorf("picker after post = %s, want %s", got.String(), wantURL)
			}
			select {
			case got := <-f.errorc:
				if !tt.wantFatal || !errors.Is(got, errMemberRemoved) {
					t.Errorf("ErrorC got %v, want nothing", got)
				}
			default:
				if tt.wantFatal {
					t.Error("ErrorC got nothing, want errMemberRemoved")
				}
			}
		})
	}
}

func TestPipelineHoldsWorkersPlusBufferThenDrops(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) {
		tr.Limits.PipelineWorkers = 3
		tr.Limits.PipelineBufSize = 5
	})
	blocker := newUTBlocker()
	t.Cleanup(blocker.unblock)
	pl := utNewPipeline(t, f, blocker, true)
	p := utNewIdlePeer(t, f, pl.pipeline)

	// The workers each take one message and block in RoundTrip.
	for range 3 {
		p.sendAll([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
	}
	waitFor(t, 5*time.Second, "3 requests in flight", func() bool { return blocker.inflight.Load() == 3 })
	for i := range 5 {
		p.sendAll([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
		if got := f.unreachable(); len(got) != 0 {
			t.Fatalf("message %d of the buffer was dropped (ReportUnreachable%v)", 3+i+1, got)
		}
	}
	if got := len(pl.msgc); got != 5 {
		t.Fatalf("queue holds %d messages, want 5", got)
	}

	p.sendAll([]*raftpb.Message{msg(raftpb.MsgSnap, 1, 2, 1)})
	if got := f.unreachable(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("after overflowing: ReportUnreachable%v, want [2]", got)
	}
	if got := f.raft.snapshotReports(); len(got) != 1 || got[0] != raft.SnapshotFailure {
		t.Fatalf("after overflowing with MsgSnap: ReportSnapshot%v, want [SnapshotFailure]", got)
	}
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_failures_total", map[string]string{"To": "2"}); got != 1 {
		t.Errorf("peer_sent_failures_total = %v, want 1", got)
	}

	blocker.unblock()
	waitFor(t, 5*time.Second, "the queue to drain", func() bool { return len(pl.msgc) == 0 })
	p.sendAll([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
	if got := f.unreachable(); len(got) != 1 {
		t.Errorf("send after unblocking was dropped: ReportUnreachable%v", got)
	}
}

func TestPipelineStopCancelsBlockedPosts(t *testing.T) {
	f := utNewFixture(t, nil)
	blocker := newUTBlocker()
	t.Cleanup(blocker.unblock)
	p := utNewPipeline(t, f, blocker, true)
	for range 40 {
		p.msgc <- msg(raftpb.MsgApp, 1, 2, 1)
	}
	waitFor(t, 5*time.Second, "4 requests in flight", func() bool { return blocker.inflight.Load() == 4 })

	done := make(chan struct{})
	start := time.Now()
	go func() {
		p.cancel()
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("stopping a pipeline with blocked posts took more than 1s")
	}
	t.Logf("stopped in %v", time.Since(start))
	if n := blocker.inflight.Load(); n != 0 {
		t.Errorf("%d requests still in flight after stop", n)
	}
}

func TestPipelineRemoteHasNoFollowerStats(t *testing.T) {
	f := utNewFixture(t, nil)
	f.env.pipelineRt = utRoundTripper(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("down")
	})
	status := newPeerStatus(f.env.lg, f.env.metrics, f.env.local, 9)
	p := newPipeline(f.env, f.env.lg, 9, newURLPicker(utMustURLs(t, "http://localhost:1")), status, nil)
	// deliver must cope with nil follower stats on both outcomes.
	p.deliver(context.Background(), msg(raftpb.MsgApp, 1, 9, 1))
	f.env.pipelineRt = &utRecorder{}
	p.deliver(context.Background(), msg(raftpb.MsgApp, 1, 9, 1))
	if !status.isActive() {
		t.Error("remote not active after a successful post")
	}
}
