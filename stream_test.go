package rafthttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/stats"
)

// utRespWriter is a ResponseWriter whose writes and flushes can be made to
// fail, and whose output the test can read while a writer goroutine runs.
type utRespWriter struct {
	mu       sync.Mutex
	header   http.Header
	buf      bytes.Buffer
	flushes  int
	writeErr error
	flushErr error
}

func (w *utRespWriter) Header() http.Header {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *utRespWriter) WriteHeader(int) {}

func (w *utRespWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writeErr != nil {
		return 0, w.writeErr
	}
	return w.buf.Write(p)
}

// FlushError is what http.ResponseController.Flush calls.
func (w *utRespWriter) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	return w.flushErr
}

func (w *utRespWriter) written() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

func (w *utRespWriter) flushCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushes
}

// utWriter is a running streamWriter to member 2.
type utWriter struct {
	*streamWriter
	status *peerStatus
	fs     *stats.FollowerStats
	stop   func()
}

func utStartWriter(t *testing.T, f *utFixture, typ streamType) *utWriter {
	t.Helper()
	status := newPeerStatus(f.env.lg, f.env.metrics, f.env.local, 2)
	fs := &stats.FollowerStats{}
	w := newStreamWriter(f.env, f.env.lg, typ, 2, status, fs)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx) })
	stop := sync.OnceFunc(func() {
		cancel()
		wg.Wait()
	})
	t.Cleanup(stop)
	return &utWriter{streamWriter: w, status: status, fs: fs, stop: stop}
}

// attachNew attaches a fresh conn over rw and waits until it is in use.
func (w *utWriter) attachNew(t *testing.T, rw http.ResponseWriter) *outgoingConn {
	t.Helper()
	c := newOutgoingConn(w.typ, 1, 2, rw, time.Second, &bufferPool{})
	if !w.attach(c) {
		t.Fatal("attach refused by a running writer")
	}
	waitFor(t, 5*time.Second, "the writer to work", w.isWorking)
	return c
}

func utIsClosed(c *outgoingConn) bool {
	select {
	case <-c.done():
		return true
	default:
		return false
	}
}

// utFrame is m as the message codec writes it.
func utFrame(t *testing.T, m *raftpb.Message) []byte {
	t.Helper()
	b, err := appendMessageFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// utNoHeartbeats keeps writers' heartbeats out of the way of a test.
func utNoHeartbeats(tr *Transport) { tr.ConnReadTimeout = time.Hour }

func TestStreamWriterAttachReplacesConn(t *testing.T) {
	f := utNewFixture(t, utNoHeartbeats)
	w := utStartWriter(t, f, streamTypeMessage)
	if w.isWorking() {
		t.Fatal("writer works before any conn is attached")
	}

	rw1 := &utRespWriter{}
	c1 := w.attachNew(t, rw1)
	if !w.status.isActive() {
		t.Error("attaching a conn did not activate the peer")
	}
	m1 := msg(raftpb.MsgHeartbeat, 1, 2, 1)
	if !w.isWorking() {
		t.Fatal("writer reports not working")
	}
	w.queue.offer(m1)
	waitFor(t, 5*time.Second, "m1 on conn 1", func() bool { return bytes.Equal(rw1.written(), utFrame(t, m1)) })

	rw2 := &utRespWriter{}
	c2 := w.attachNew(t, rw2)
	waitFor(t, 5*time.Second, "conn 1 to be closed", func() bool { return utIsClosed(c1) })
	if utIsClosed(c2) {
		t.Fatal("the new conn is closed")
	}
	m2 := msg(raftpb.MsgVote, 1, 2, 2)
	w.queue.offer(m2)
	waitFor(t, 5*time.Second, "m2 on conn 2", func() bool { return bytes.Equal(rw2.written(), utFrame(t, m2)) })
	if got := rw1.written(); !bytes.Equal(got, utFrame(t, m1)) {
		t.Errorf("conn 1 got more after it was replaced: %x", got)
	}

	w.stop()
	if w.isWorking() {
		t.Error("writer works after stop")
	}
	if !utIsClosed(c2) {
		t.Error("stop left the last conn open")
	}
	if got := f.unreachable(); len(got) != 0 {
		t.Errorf("ReportUnreachable%v with nothing lost", got)
	}
}

func TestStreamWriterFailureClosesConn(t *testing.T) {
	tests := []struct {
		name        string
		writeErr    error
		flushErr    error
		heartbeat   bool
		unreachable bool
	}{
		{name: "write error", writeErr: errors.New("broken pipe"), unreachable: true},
		{name: "flush error", flushErr: errors.New("broken pipe"), unreachable: true},
		{name: "heartbeat write error", writeErr: errors.New("broken pipe"), heartbeat: true},
		{name: "heartbeat flush error", flushErr: errors.New("broken pipe"), heartbeat: true},
	}
	for _, tt := range tests {
		for _, typ := range []streamType{streamTypeMessage, streamTypeMsgAppV2} {
			t.Run(tt.name+"/"+string(typ), func(t *testing.T) {
				f := utNewFixture(t, func(tr *Transport) {
					tr.ConnReadTimeout = time.Hour
					if tt.heartbeat {
						tr.ConnReadTimeout = 30 * time.Millisecond
					}
				})
				w := utStartWriter(t, f, typ)
				rw := &utRespWriter{}
				c := w.attachNew(t, rw)
				rw.mu.Lock()
				rw.writeErr, rw.flushErr = tt.writeErr, tt.flushErr
				rw.mu.Unlock()
				if !tt.heartbeat {
					w.queue.offer(msg(raftpb.MsgApp, 1, 2, 1))
				}
				waitFor(t, 5*time.Second, "the conn to be closed", func() bool { return utIsClosed(c) })
				waitFor(t, 5*time.Second, "the writer to stop working", func() bool { return !w.isWorking() })
				if w.status.isActive() {
					t.Error("peer still active after its stream failed")
				}
				waitFor(t, 5*time.Second, "the failure to be counted", func() bool {
					return utMetricValue(t, f.reg, "etcd_network_peer_sent_failures_total", map[string]string{"To": "2"}) >= 1
				})
				if tt.unreachable {
					waitFor(t, 5*time.Second, "the lost message's report", func() bool { return len(f.unreachable()) > 0 })
				}
				got := f.unreachable()
				if tt.unreachable && (len(got) != 1 || got[0] != 2) {
					t.Errorf("ReportUnreachable%v, want [2] for the lost message", got)
				}
				if !tt.unreachable && len(got) != 0 {
					t.Errorf("ReportUnreachable%v, want none", got)
				}
			})
		}
	}
}

func TestStreamWriterBatchesUntilQueueEmpty(t *testing.T) {
	f := utNewFixture(t, nil)
	status := newPeerStatus(f.env.lg, f.env.metrics, f.env.local, 2)
	w := newStreamWriter(f.env, f.env.lg, streamTypeMessage, 2, status, nil)
	rw := &utRespWriter{}
	cur := &writerConn{conn: newOutgoingConn(streamTypeMessage, 1, 2, rw, time.Second, &bufferPool{})}
	cur.enc = newMessageEncoder(cur.conn)

	m1, m2 := msg(raftpb.MsgHeartbeat, 1, 2, 1), msg(raftpb.MsgHeartbeat, 1, 2, 2)
	w.queue.offer(m1)
	w.queue.offer(m2)
	if cur = w.writeQueued(cur); cur == nil || rw.flushCount() != 1 || cur.batched != 0 {
		t.Fatalf("two queued messages: flushes=%d, want 1 for both", rw.flushCount())
	}
	if got := w.queue.len(); got != 0 {
		t.Errorf("%d messages left queued", got)
	}
	want := float64(proto.Size(m1) + proto.Size(m2))
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_bytes_total", map[string]string{"To": "2"}); got != want {
		t.Errorf("peer_sent_bytes_total = %v, want %v", got, want)
	}
	if want := append(utFrame(t, m1), utFrame(t, m2)...); !bytes.Equal(rw.written(), want) {
		t.Errorf("wrote %x, want %x", rw.written(), want)
	}
}

func TestStreamWriterCloseDropsQueuedAndReportsOnce(t *testing.T) {
	f := utNewFixture(t, nil)
	status := newPeerStatus(f.env.lg, f.env.metrics, f.env.local, 2)
	w := newStreamWriter(f.env, f.env.lg, streamTypeMessage, 2, status, nil)
	w.setWorking(true)
	c := newOutgoingConn(streamTypeMessage, 1, 2, &utRespWriter{}, time.Second, &bufferPool{})
	for range 3 {
		w.queue.offer(msg(raftpb.MsgApp, 1, 2, 1))
	}
	w.closeConn(&writerConn{conn: c})
	if !utIsClosed(c) || w.isWorking() {
		t.Fatal("closeConn left the conn open or the writer working")
	}
	if got := w.queue.len(); got != 0 {
		t.Errorf("%d messages left queued", got)
	}
	if got := f.unreachable(); len(got) != 1 || got[0] != 2 {
		t.Errorf("ReportUnreachable%v, want exactly [2]", got)
	}
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_failures_total", map[string]string{"To": "2"}); got != 3 {
		t.Errorf("peer_sent_failures_total = %v, want 3", got)
	}

	// A message that arrives with no conn attached is reported too.
	if cur := w.writeBatch(nil, []*raftpb.Message{msg(raftpb.MsgVote, 1, 2, 1)}); cur != nil {
		t.Error("write without a conn returned a conn")
	}
	if got := f.unreachable(); len(got) != 2 {
		t.Errorf("ReportUnreachable%v, want a second report for the unattached write", got)
	}
	if err := c.Close(); err != nil {
		t.Errorf("a second Close = %v", err)
	}
}

func TestStreamWriterMsgAppV2RecordsFollowerStats(t *testing.T) {
	f := utNewFixture(t, utNoHeartbeats)
	w := utStartWriter(t, f, streamTypeMsgAppV2)
	rw := &utRespWriter{}
	w.attachNew(t, rw)
	app := msg(raftpb.MsgApp, 1, 2, 1)
	app.LogTerm, app.Index = proto.Uint64(1), proto.Uint64(0)
	app.Entries = []*raftpb.Entry{{Term: proto.Uint64(1), Index: proto.Uint64(1), Data: []byte("ab")}}
	w.queue.offer(app)
	waitFor(t, 5*time.Second, "the MsgApp to be counted", func() bool {
		w.fs.Lock()
		defer w.fs.Unlock()
		return w.fs.Counts.Success == 1
	})
	if got := rw.written(); len(got) == 0 || got[0] != msgAppV2FullMessage {
		t.Errorf("first MsgApp on a new conn written as %x, want a full message record", got)
	}
}

// TestStreamWriterCountsAppsItTakes checks that a msgappv2 writer records
// in ServerStats every MsgApp it takes from its queue, written or not.
func TestStreamWriterCountsAppsItTakes(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) {
		utNoHeartbeats(tr)
		tr.ServerStats = stats.NewServerStats("1", "1")
	})
	sent := func() uint64 {
		f.env.server.Lock()
		defer f.env.server.Unlock()
		return f.env.server.SendAppendRequestCnt
	}
	w := utStartWriter(t, f, streamTypeMsgAppV2)
	w.attachNew(t, &utRespWriter{})
	w.queue.offerAll([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1), msg(raftpb.MsgApp, 1, 2, 1)})
	waitFor(t, 5*time.Second, "two MsgApps counted", func() bool { return sent() == 2 })
	w.stop()

	// Queued when the connection closes, and taken with none attached.
	idle := newStreamWriter(f.env, f.env.lg, streamTypeMsgAppV2, 2, w.status, nil)
	idle.queue.offerAll([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1), msg(raftpb.MsgApp, 1, 2, 1)})
	idle.closeConn(&writerConn{conn: newOutgoingConn(streamTypeMsgAppV2, 1, 2, &utRespWriter{}, time.Second, &bufferPool{})})
	idle.writeBatch(nil, []*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1)})
	// Taken for a connection its peer has closed.
	gone := newOutgoingConn(streamTypeMsgAppV2, 1, 2, &utRespWriter{}, time.Second, &bufferPool{})
	gone.markGone()
	idle.writeBatch(&writerConn{conn: gone, enc: newMsgAppV2Encoder(gone)}, []*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1)})
	if got := sent(); got != 6 {
		t.Errorf("ServerStats counted %d MsgApps, want 6", got)
	}
}

// TestStreamWriterSendsHeartbeatsWhenIdle reads a Transport's stream
// responses the way a peer does and waits for the link heartbeats.
func TestStreamWriterSendsHeartbeatsWhenIdle(t *testing.T) {
	tests := []struct {
		path string
		want []byte
	}{
		{"/raft/stream/msgapp/2", []byte{0x00}},
		{"/raft/stream/message/2", []byte{0, 0, 0, 0, 0, 0, 0, 2, 0x08, 0x08}},
	}
	m := startMember(t, 1, func(tr *Transport) { tr.ConnReadTimeout = 300 * time.Millisecond })
	m.tr.AddPeer(2, []string{"http://127.0.0.1:1"})
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, m.srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = utPeerRequest(http.MethodGet, "/", nil).Header
			req.Header.Set(hdrRaftTo, "1")
			resp, err := m.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			start := time.Now()
			got := make([]byte, len(tt.want)*2)
			if _, err := io.ReadFull(resp.Body, got); err != nil {
				t.Fatalf("reading heartbeats: %v", err)
			}
			if want := bytes.Repeat(tt.want, 2); !bytes.Equal(got, want) {
				t.Errorf("idle stream carried %x, want two heartbeats %x", got, want)
			}
			// Two heartbeats, one every ConnReadTimeout/3 = 100ms.
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("two heartbeats took %v", d)
			}
		})
	}
}

// utTrackedBody is a response body that remembers being closed and, like
// a real one, fails once its request's context ends.
type utTrackedBody struct {
	ctx    context.Context
	r      io.Reader
	closed atomic.Bool
}

func (b *utTrackedBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.r == nil {
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	return b.r.Read(p)
}

func (b *utTrackedBody) Close() error {
	b.closed.Store(true)
	return nil
}

// utNewReader builds a stream reader of type typ from member 2 to member 1
// over rt.
func utNewReader(t *testing.T, f *utFixture, typ streamType, rt http.RoundTripper, urls ...string) (*streamReader, *msgQueue, *msgQueue) {
	t.Helper()
	f.env.streamRt = rt
	recvq, propq := newMsgQueue(1), newMsgQueue(1)
	r := &streamReader{
		env: f.env, lg: f.env.lg, typ: typ, peerID: 2,
		picker: newURLPicker(utMustURLs(t, urls...)), status: newPeerStatus(f.env.lg, f.env.metrics, 1, 2),
		recvq: recvq, propq: propq, paused: &atomic.Bool{},
		receivedBytes: f.env.metrics.receivedBytes.WithLabelValues("2"),
	}
	return r, recvq, propq
}

// utRoomyReader is a reader of type typ whose receive queue has room for
// eight messages: the reader drops what does not fit, and the tests using
// it are about decoding, not about a slow consumer.
func utRoomyReader(t *testing.T, typ streamType) (*streamReader, *msgQueue) {
	t.Helper()
	r, _, _ := utNewReader(t, utNewFixture(t, nil), typ, nil, "http://localhost:2380")
	r.recvq = newMsgQueue(8)
	return r, r.recvq
}

// utReceive waits until n messages arrived on q and returns them.
func utReceive(t *testing.T, q *msgQueue, n int) []*raftpb.Message {
	t.Helper()
	var got []*raftpb.Message
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case <-q.ready:
			got = append(got, q.take()...)
		case <-deadline:
			t.Fatalf("received %d of %d messages", len(got), n)
		}
	}
	return got
}

func TestStreamReaderDialRequest(t *testing.T) {
	for _, typ := range []streamType{streamTypeMessage, streamTypeMsgAppV2} {
		t.Run(string(typ), func(t *testing.T) {
			f := utNewFixture(t, nil)
			rec := &utRecorder{resp: func() (*http.Response, error) { return nil, errors.New("refused") }}
			r, _, _ := utNewReader(t, f, typ, rec, "http://localhost:2380")
			if _, err := r.dial(context.Background()); err == nil {
				t.Fatal("dial succeeded through a failing round tripper")
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			wantURL := "http://localhost:2380/raft/stream/message/1"
			if typ == streamTypeMsgAppV2 {
				wantURL = "http://localhost:2380/raft/stream/msgapp/1"
			}
			if reqs[0].method != http.MethodGet || reqs[0].url != wantURL {
				t.Errorf("dialled %s %s, want GET %s", reqs[0].method, reqs[0].url, wantURL)
			}
			for k, want := range map[string]string{
				"X-Raft-To": "2", "X-Server-From": "1", "X-Etcd-Cluster-ID": "c1",
				"X-Server-Version": defaultServerVersion, "X-Min-Cluster-Version": "3.0.0",
			} {
				if got := reqs[0].header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestStreamReaderDialResult(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		version   string // X-Server-Version of the reply; "-" for none
		body      string
		rtErr     error
		wantErr   error
		wantText  string
		wantFatal bool
	}{
		{name: "200", code: 200, version: "3.7.3"},
		{name: "200 from an older 2.1 peer", code: 200, version: "2.1.0"},
		{name: "404", code: 404, version: "3.7.3", wantText: "peer 2 failed to find local node 1"},
		{name: "405", code: 405, version: "3.7.3", wantText: "unhandled http status 405"},
		{name: "500", code: 500, version: "3.7.3", wantText: "unhandled http status 500"},
		{name: "412 incompatible", code: 412, version: "3.7.3", body: "incompatible version\n", wantErr: errIncompatibleVersion},
		{name: "412 cluster mismatch", code: 412, version: "3.7.3", body: "cluster ID mismatch\n", wantErr: ErrClusterIDMismatch},
		{name: "412 other", code: 412, version: "3.7.3", body: "who knows\n", wantText: `unhandled error "who knows" when precondition failed`},
		{name: "410 removed", code: 410, version: "3.7.3", wantErr: errMemberRemoved, wantFatal: true},
		{name: "no version on 404", code: 404, version: "-", wantErr: errUnsupportedStreamType},
		{name: "no version on 200", code: 200, version: "-", wantErr: errUnsupportedStreamType},
		{name: "2.0 peer", code: 200, version: "2.0.0", wantErr: errUnsupportedStreamType},
		{name: "malformed version", code: 200, version: "garbage", wantErr: errIncompatibleVersion},
		{name: "four-part version", code: 200, version: "3.5.0.1", wantErr: errIncompatibleVersion},
		{name: "round trip error", rtErr: errors.New("connection refused"), wantText: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := utNewFixture(t, nil)
			var body *utTrackedBody
			rt := utRoundTripper(func(req *http.Request) (*http.Response, error) {
				if tt.rtErr != nil {
					return nil, tt.rtErr
				}
				resp := utResp(tt.code, nil, "")
				if tt.version != "-" {
					resp.Header.Set(hdrServerVersion, tt.version)
				}
				body = &utTrackedBody{ctx: req.Context(), r: strings.NewReader(tt.body)}
				resp.Body = body
				return resp, nil
			})
			r, _, _ := utNewReader(t, f, streamTypeMessage, rt, "http://localhost:2380", "http://localhost:2381")
			rc, err := r.dial(context.Background())
			success := tt.wantErr == nil && tt.wantText == ""
			switch {
			case success && err != nil:
				t.Fatalf("dial() = %v, want success", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("dial() = %v, want %v", err, tt.wantErr)
			case tt.wantText != "" && (err == nil || !strings.Contains(err.Error(), tt.wantText)):
				t.Fatalf("dial() = %v, want an error containing %q", err, tt.wantText)
			}
			if success {
				if rc != io.ReadCloser(body) {
					t.Error("dial did not hand over the response body")
				}
				rc.Close()
				if got := r.picker.pick(); got.String() != "http://localhost:2380" {
					t.Errorf("picker moved to %s after a successful dial", got.String())
				}
			} else if body != nil && !body.closed.Load() {
				t.Error("a rejected response's body was left open")
			}
			select {
			case got := <-f.errorc:
				if !tt.wantFatal {
					t.Errorf("ErrorC got %v", got)
				}
			default:
				if tt.wantFatal {
					t.Error("ErrorC got nothing, want errMemberRemoved")
				}
			}
		})
	}
}

// TestStreamReaderDialFailureAdvancesPicker checks that a failed dial
// moves the shared picker to the peer's next URL, as etcd's does.
func TestStreamReaderDialFailureAdvancesPicker(t *testing.T) {
	tests := []struct {
		name string
		rt   utRoundTripper
	}{
		{"round trip error", func(*http.Request) (*http.Response, error) { return nil, errors.New("refused") }},
		{"404", func(*http.Request) (*http.Response, error) {
			return utResp(http.StatusNotFound, http.Header{hdrServerVersion: {"3.7.3"}}, ""), nil
		}},
		{"no version", func(*http.Request) (*http.Response, error) { return utResp(http.StatusOK, nil, ""), nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := utNewFixture(t, nil)
			r, _, _ := utNewReader(t, f, streamTypeMessage, tt.rt, "http://localhost:2380", "http://localhost:2381")
			if _, err := r.dial(context.Background()); err == nil {
				t.Fatal("dial succeeded")
			}
			if got := r.picker.pick(); got.String() != "http://localhost:2381" {
				t.Errorf("picker = %s after a failed dial, want http://localhost:2381", got.String())
			}
		})
	}
}

func TestStreamReaderDeliverAllSplitsProposals(t *testing.T) {
	r, recvq := utRoomyReader(t, streamTypeMessage)
	r.propq = newMsgQueue(8)
	batch := []*raftpb.Message{
		msg(raftpb.MsgApp, 2, 1, 1), msg(raftpb.MsgApp, 2, 1, 2), msg(raftpb.MsgProp, 2, 1, 3),
		msg(raftpb.MsgApp, 2, 1, 4), msg(raftpb.MsgProp, 2, 1, 5), msg(raftpb.MsgHeartbeat, 2, 1, 6),
	}
	r.deliverAll(batch)
	if got := utTerms(recvq.take()); !utEqualTerms(got, []uint64{1, 2, 4, 6}) {
		t.Errorf("receive queue got terms %v, want [1 2 4 6] in order", got)
	}
	if got := utTerms(r.propq.take()); !utEqualTerms(got, []uint64{3, 5}) {
		t.Errorf("proposal queue got terms %v, want [3 5]", got)
	}
}

func TestStreamReaderDelivers(t *testing.T) {
	f := utNewFixture(t, nil)
	r, recvq, propq := utNewReader(t, f, streamTypeMessage, nil, "http://localhost:2380")
	prop, app, extra := msg(raftpb.MsgProp, 2, 1, 0), msg(raftpb.MsgApp, 2, 1, 1), msg(raftpb.MsgVote, 2, 1, 1)
	var stream []byte
	for _, m := range []*raftpb.Message{linkHeartbeat(), prop, app, extra} {
		stream = append(stream, utFrame(t, m)...)
	}
	if err := r.decodeLoop(bytes.NewReader(stream)); !errors.Is(err, io.EOF) {
		t.Fatalf("decodeLoop() = %v, want EOF at the end of the stream", err)
	}
	if got := utReceive(t, propq, 1); len(got) != 1 || !proto.Equal(got[0], prop) {
		t.Errorf("proposal queue got %v, want the MsgProp", got)
	}
	if got := utReceive(t, recvq, 1); len(got) != 1 || !proto.Equal(got[0], app) {
		t.Errorf("receive queue got %v, want the MsgApp", got)
	}
	// The receive queue has room for one message: the vote is dropped and counted.
	if got := utMetricValue(t, f.reg, "etcd_network_peer_received_failures_total", map[string]string{"From": "2"}); got != 1 {
		t.Errorf("peer_received_failures_total{From=2} = %v, want 1", got)
	}
	wantBytes := float64(proto.Size(prop) + proto.Size(app) + proto.Size(extra))
	if got := utMetricValue(t, f.reg, "etcd_network_peer_received_bytes_total", map[string]string{"From": "2"}); got != wantBytes {
		t.Errorf("peer_received_bytes_total{From=2} = %v, want %v", got, wantBytes)
	}

	// While paused, messages are read and discarded.
	r.paused.Store(true)
	if err := r.decodeLoop(bytes.NewReader(utFrame(t, app))); !errors.Is(err, io.EOF) {
		t.Fatalf("decodeLoop() = %v", err)
	}
	if n := recvq.len(); n != 0 {
		t.Errorf("a paused reader delivered %d messages", n)
	}
}

// TestStreamReaderHandsOverBeforeWaiting checks that messages decoded
// together are delivered as soon as the reader has consumed what arrived,
// not held back until more data comes.
func TestStreamReaderHandsOverBeforeWaiting(t *testing.T) {
	r, recvq := utRoomyReader(t, streamTypeMessage)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- r.decodeLoop(pr) }()
	var burst []byte
	for i := range uint64(3) {
		burst = append(burst, utFrame(t, msg(raftpb.MsgApp, 2, 1, i+1))...)
	}
	if _, err := pw.Write(burst); err != nil {
		t.Fatal(err)
	}
	// The pipe stays open: the reader now waits for more.
	for i, m := range utReceive(t, recvq, 3) {
		if m.GetTerm() != uint64(i+1) {
			t.Errorf("message %d has term %d, want %d", i, m.GetTerm(), i+1)
		}
	}
	if _, err := pw.Write(utFrame(t, msg(raftpb.MsgVote, 2, 1, 4))); err != nil {
		t.Fatal(err)
	}
	if got := utReceive(t, recvq, 1); len(got) != 1 || got[0].GetType() != raftpb.MsgVote {
		t.Errorf("after the burst got %v, want the MsgVote", got)
	}
	pw.Close()
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("decodeLoop() = %v, want EOF", err)
	}
}

func TestStreamReaderMsgAppV2Delivers(t *testing.T) {
	r, recvq := utRoomyReader(t, streamTypeMsgAppV2)
	// The first MsgApp goes out whole; the second continues it and takes
	// the fast path, which the reader must rebuild from its own state.
	app := func(index, commit uint64, data string) *raftpb.Message {
		m := msg(raftpb.MsgApp, 2, 1, 1)
		m.LogTerm, m.Index, m.Commit = proto.Uint64(1), proto.Uint64(index), proto.Uint64(commit)
		m.Entries = []*raftpb.Entry{{Term: proto.Uint64(1), Index: proto.Uint64(index + 1), Data: []byte(data)}}
		return m
	}
	sent := []*raftpb.Message{app(0, 0, "ab"), app(1, 1, "cd")}
	var buf bytes.Buffer
	enc := newMsgAppV2Encoder(&buf)
	for _, m := range append([]*raftpb.Message{linkHeartbeat()}, sent...) {
		if err := enc.encode(m); err != nil {
			t.Fatal(err)
		}
	}
	if got := buf.Bytes()[1+1+8+proto.Size(sent[0])]; got != msgAppV2AppEntries {
		t.Fatalf("second MsgApp encoded as record type %d, want the fast path", got)
	}
	stream := bytes.NewReader(buf.Bytes())
	done := make(chan error, 1)
	go func() { done <- r.decodeLoop(stream) }()
	got := utReceive(t, recvq, len(sent))
	for i, want := range sent {
		if i >= len(got) || !proto.Equal(got[i], want) {
			t.Errorf("message %d: got %v, want %v", i, got, want)
		}
	}
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("decodeLoop() = %v, want EOF", err)
	}

	// A stream cut inside a record is an error, not a clean end.
	truncated := buf.Bytes()[:buf.Len()-3]
	if err := r.decodeLoop(bytes.NewReader(truncated)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("decodeLoop(truncated) = %v, want unexpected EOF", err)
	}
}

// TestStreamReaderCorruptStreamDeactivates feeds a stream that breaks the
// codec: the reader must drop the connection and mark the peer inactive.
func TestStreamReaderCorruptStreamDeactivates(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) { tr.DialRetryFrequency = rate.Every(time.Hour) })
	var dials atomic.Int64
	rt := utRoundTripper(func(req *http.Request) (*http.Response, error) {
		dials.Add(1)
		resp := utResp(http.StatusOK, http.Header{hdrServerVersion: {"3.7.3"}}, "")
		resp.Body = &utTrackedBody{ctx: req.Context(), r: bytes.NewReader([]byte{0x09})}
		return resp, nil
	})
	r, _, _ := utNewReader(t, f, streamTypeMsgAppV2, rt, "http://localhost:2380")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
	}()
	pair := map[string]string{"Local": "1", "Remote": "2"}
	// The limiter's burst allows one immediate redial; the next is an
	// hour away.
	waitFor(t, 5*time.Second, "both sessions to end in a disconnect", func() bool {
		return utMetricValue(t, f.reg, "etcd_network_disconnected_peers_total", pair) == 2
	})
	if r.status.isActive() {
		t.Error("peer active after a corrupt stream")
	}
	if got := dials.Load(); got != 2 {
		t.Errorf("%d dials, want 2", got)
	}
}

func TestStreamReaderStopDuringDial(t *testing.T) {
	tests := []struct {
		name string
		// respondAfterCancel makes RoundTrip succeed even though the
		// request was cancelled, as a race with a real transport can.
		respondAfterCancel bool
	}{
		{"dial is cancelled", false},
		{"dial succeeds as stop begins", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := utNewFixture(t, nil)
			dialing := make(chan struct{})
			var once sync.Once
			rt := utRoundTripper(func(req *http.Request) (*http.Response, error) {
				once.Do(func() { close(dialing) })
				<-req.Context().Done()
				if !tt.respondAfterCancel {
					return nil, req.Context().Err()
				}
				resp := utResp(http.StatusOK, http.Header{hdrServerVersion: {"3.7.3"}}, "")
				resp.Body = &utTrackedBody{ctx: req.Context()}
				return resp, nil
			})
			r, _, _ := utNewReader(t, f, streamTypeMessage, rt, "http://localhost:2380")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				r.run(ctx)
			}()
			<-dialing
			cancel()
			select {
			case <-done:
			case <-time.After(time.Second):
				t.Fatal("run did not return within 1s of stop")
			}
		})
	}
}

// TestStreamReaderDetectsBlackholedPeer dials a peer that accepts both
// streams and then never writes a byte: the read deadline must end the
// stream and mark the peer inactive. etcd's dialer installs no deadline
// and would wait for TCP keep-alive.
func TestStreamReaderDetectsBlackholedPeer(t *testing.T) {
	release := make(chan struct{})
	blackhole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, RaftStreamPrefix) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set(hdrServerVersion, "3.7.3")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer blackhole.Close()
	defer close(release)

	const readTimeout = 300 * time.Millisecond
	m := startMember(t, 1, func(tr *Transport) {
		tr.ConnReadTimeout = readTimeout
		tr.DialRetryFrequency = rate.Every(time.Hour) // no redial to hide the outage
	})
	m.tr.AddPeer(2, []string{blackhole.URL})
	waitFor(t, 5*time.Second, "the streams to connect", func() bool { return !m.tr.ActiveSince(2).IsZero() })
	connected := time.Now()
	waitFor(t, readTimeout+time.Second, "the silent peer to be detected", func() bool { return m.tr.ActiveSince(2).IsZero() })
	t.Logf("detected after %v", time.Since(connected))
	// One immediate redial is allowed (the limiter's burst); after it
	// times out too, the peer stays inactive.
	waitFor(t, 2*readTimeout+time.Second, "the peer to stay inactive", func() bool { return m.tr.ActivePeers() == 0 })
	m.tr.Stop() // before the server, whose handlers wait for the conns to end
}
