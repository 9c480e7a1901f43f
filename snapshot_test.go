package rafthttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/stats"
)

// utSnapMsg is a MsgSnap from 1 to 2 for the snapshot at index.
func utSnapMsg(index uint64) *raftpb.Message {
	m := msg(raftpb.MsgSnap, 1, 2, 4)
	m.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(4)}}
	return m
}

// utWaitCloseNotify returns the outcome a snapshot message reports.
func utWaitCloseNotify(t *testing.T, sm *snap.Message, within time.Duration) bool {
	t.Helper()
	select {
	case ok := <-sm.CloseNotify():
		return ok
	case <-time.After(within):
		t.Fatalf("no outcome on CloseNotify within %v", within)
		return false
	}
}

// utSnapshotPair starts member 1 (sender) and member 2 (receiver, storing
// snapshots in the returned dir), each with its own registry, connected.
func utSnapshotPair(t *testing.T, receiverHasSnapshotter bool) (a, b *testMember, dir string) {
	t.Helper()
	dir = t.TempDir()
	a = startMember(t, 1, utWithRegistry)
	b = startMember(t, 2, func(tr *Transport) {
		utWithRegistry(tr)
		if receiverHasSnapshotter {
			tr.Snapshotter = utSnapshotter(dir)
		}
	})
	connect(t, a, b)
	return a, b, dir
}

func TestSnapshotSendBetweenTransports(t *testing.T) {
	a, b, dir := utSnapshotPair(t, true)
	db := make([]byte, 1<<20)
	for i := range db {
		db[i] = byte(i*7 + i>>8)
	}
	sent := utSnapMsg(0x42)
	sm := snap.NewMessage(sent, io.NopCloser(bytes.NewReader(db)), int64(len(db)))
	a.tr.SendSnapshot(sm)
	if !utWaitCloseNotify(t, sm, 10*time.Second) {
		t.Fatal("CloseNotify = false for a complete snapshot")
	}
	utCheckSavedDB(t, dir, 0x42, db)
	if got := b.raft.receive(t); !proto.Equal(got, sent) {
		t.Errorf("receiver processed %v, want %v", got, sent)
	}
	waitFor(t, 5*time.Second, "the snapshot report", func() bool { return len(a.raft.snapshotReports()) == 1 })
	if got := a.raft.snapshotReports()[0]; got != raft.SnapshotFinish {
		t.Errorf("ReportSnapshot(%v), want SnapshotFinish", got)
	}

	to2, from1 := map[string]string{"To": "2"}, map[string]string{"From": "1"}
	ga, gb := utGatherer(t, a), utGatherer(t, b)
	checks := []struct {
		g      prometheus.Gatherer
		name   string
		labels map[string]string
		want   float64
	}{
		{ga, "etcd_network_snapshot_send_success", to2, 1},
		{ga, "etcd_network_snapshot_send_failures", to2, 0},
		{ga, "etcd_network_snapshot_send_inflights_total", to2, 0},
		{ga, "etcd_network_snapshot_send_total_duration_seconds", to2, 1},
		{gb, "etcd_network_snapshot_receive_success", from1, 1},
		{gb, "etcd_network_snapshot_receive_total_duration_seconds", from1, 1},
	}
	// Both sides finish their bookkeeping after the reply is on its way.
	for _, c := range checks {
		waitFor(t, 5*time.Second, c.name+" to settle", func() bool {
			return utMetricValue(t, c.g, c.name, c.labels) == c.want
		})
	}
	if got := utMetricValue(t, ga, "etcd_network_peer_sent_bytes_total", to2); got < float64(sm.TotalSize) {
		t.Errorf("peer_sent_bytes_total = %v, want at least TotalSize %d", got, sm.TotalSize)
	}
}

func TestSnapshotSendFailures(t *testing.T) {
	tests := []struct {
		name           string
		declared, real int
		noSnapshotter  bool
	}{
		{name: "declared size larger than the data", declared: 2048, real: 1024},
		{name: "declared size smaller than the data", declared: 1024, real: 2048},
		{name: "receiver without snapshotter", declared: 1024, real: 1024, noSnapshotter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, dir := utSnapshotPair(t, !tt.noSnapshotter)
			sm := snap.NewMessage(utSnapMsg(7), io.NopCloser(bytes.NewReader(make([]byte, tt.real))), int64(tt.declared))
			a.tr.SendSnapshot(sm)
			if utWaitCloseNotify(t, sm, 10*time.Second) {
				t.Fatal("CloseNotify = true for a failed snapshot")
			}
			waitFor(t, 5*time.Second, "the snapshot report", func() bool { return len(a.raft.snapshotReports()) == 1 })
			if got := a.raft.snapshotReports()[0]; got != raft.SnapshotFailure {
				t.Errorf("ReportSnapshot(%v), want SnapshotFailure", got)
			}
			waitFor(t, 5*time.Second, "snapshot_send_failures{To=2} = 1", func() bool {
				return utMetricValue(t, utGatherer(t, a), "etcd_network_snapshot_send_failures", map[string]string{"To": "2"}) == 1
			})
			// The receiver may still be cleaning up. A body the sender cut
			// short looks to it like a cut connection: it may keep what
			// arrived as one partial file to resume from, never as a DB.
			waitFor(t, 5*time.Second, "no file but at most one partial in the receiver's snapshot dir", func() bool {
				files := utDirFiles(t, dir)
				return len(files) == 0 || (len(files) == 1 && strings.HasSuffix(files[0], ".snap.partial"))
			})
			select {
			case got := <-b.raft.recvc:
				t.Errorf("receiver processed %v from a failed snapshot", got)
			default:
			}
		})
	}
}

// TestSnapshotSendStopWhileReceiverHangs sends to a peer that accepts the
// upload and never answers: Stop must not wait for it.
func TestSnapshotSendStopWhileReceiverHangs(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != RaftSnapshotPrefix {
			w.Header().Set(hdrServerVersion, "3.7.3")
			http.NotFound(w, r)
			return
		}
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}))
	defer hang.Close()
	defer close(release)

	a := startMember(t, 1, nil)
	a.tr.AddPeer(2, []string{hang.URL})
	sm := snap.NewMessage(utSnapMsg(9), io.NopCloser(bytes.NewReader(make([]byte, 64<<10))), 64<<10)
	a.tr.SendSnapshot(sm)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the snapshot never reached the peer")
	}

	start := time.Now()
	a.tr.Stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %v with a snapshot in flight, want < 1s", d)
	}
	if utWaitCloseNotify(t, sm, time.Second) {
		t.Error("CloseNotify = true for an interrupted snapshot")
	}
}

// utSnapshotSender returns a sender from f's member 1 to peer 2 at urls.
func utSnapshotSender(t *testing.T, f *utFixture, urls ...string) *snapshotSender {
	t.Helper()
	return &snapshotSender{env: f.env, lg: f.env.lg, peerID: 2, picker: newURLPicker(utMustURLs(t, urls...)),
		status: newPeerStatus(f.env.lg, f.env.metrics, 1, 2)}
}

func TestSnapshotSenderPostsEnvelopeAndDB(t *testing.T) {
	f := utNewFixture(t, nil)
	rec := &utRecorder{}
	f.env.snapshotRt = rec
	s := utSnapshotSender(t, f, "http://localhost:2380")
	status := s.status

	sent := utSnapMsg(3)
	db := []byte("DBDATA")
	sm := snap.NewMessage(sent, io.NopCloser(bytes.NewReader(db)), int64(len(db)))
	s.send(context.Background(), sm)
	if !utWaitCloseNotify(t, sm, time.Second) {
		t.Fatal("CloseNotify = false after a 204")
	}
	// The recorder answers the offer 204, as no rafthttp peer would, so
	// the snapshot goes out as etcd sends it.
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the offer and the POST", len(reqs))
	}
	if offer := reqs[0]; offer.method != http.MethodGet || offer.url != "http://localhost:2380/raft/snapshot/offer" {
		t.Errorf("first request = %s %s, want GET http://localhost:2380/raft/snapshot/offer", offer.method, offer.url)
	}
	req := reqs[1]
	if got := req.header.Get(hdrSnapExt); got != "" {
		t.Errorf("POST to a peer without the extension carries %s: %q", hdrSnapExt, got)
	}
	if req.method != http.MethodPost || req.url != "http://localhost:2380/raft/snapshot" {
		t.Errorf("request = %s %s, want POST http://localhost:2380/raft/snapshot", req.method, req.url)
	}
	if got := req.header.Get("Content-Type"); got != "application/octet-stream" {
		t.Errorf("Content-Type = %q, want application/octet-stream", got)
	}
	for k, want := range map[string]string{"X-Server-From": "1", "X-Etcd-Cluster-ID": "c1", "X-Server-Version": defaultServerVersion} {
		if got := req.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if want := append(utFrame(t, sent), db...); !bytes.Equal(req.body, want) {
		t.Errorf("body = %x, want envelope+DB %x", req.body, want)
	}
	if !status.isActive() {
		t.Error("a sent snapshot did not activate the peer")
	}
	if got := f.raft.snapshotReports(); len(got) != 1 || got[0] != raft.SnapshotFinish {
		t.Errorf("ReportSnapshot%v, want [SnapshotFinish]", got)
	}
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_bytes_total", map[string]string{"To": "2"}); got != float64(sm.TotalSize) {
		t.Errorf("peer_sent_bytes_total = %v, want TotalSize %d", got, sm.TotalSize)
	}
}

func TestSnapshotSenderFailures(t *testing.T) {
	tests := []struct {
		name      string
		rt        utRoundTripper
		cancelled bool
		wantErr   error
		wantFatal bool
	}{
		{name: "403 is fatal", rt: func(*http.Request) (*http.Response, error) { return utResp(http.StatusForbidden, nil, ""), nil },
			wantFatal: true},
		{name: "500", rt: func(*http.Request) (*http.Response, error) {
			return utResp(http.StatusInternalServerError, nil, "failed to save KV snapshot\n"), nil
		}},
		{name: "stopped", cancelled: true, wantErr: ErrStopped, rt: func(req *http.Request) (*http.Response, error) {
			<-req.Context().Done()
			return nil, req.Context().Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := utNewFixture(t, nil)
			f.env.snapshotRt = tt.rt
			s := utSnapshotSender(t, f, "http://localhost:2380", "http://localhost:2381")
			status := s.status
			status.activate()
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancelled {
				cancel()
			}
			defer cancel()
			sm := snap.NewMessage(utSnapMsg(3), nil, 0)
			s.send(ctx, sm)
			if utWaitCloseNotify(t, sm, time.Second) {
				t.Fatal("CloseNotify = true after a failure")
			}
			if status.isActive() {
				t.Error("peer still active after a failed snapshot")
			}
			if got := f.unreachable(); len(got) == 0 || got[0] != 2 {
				t.Errorf("ReportUnreachable%v, want [2]", got)
			}
			if got := f.raft.snapshotReports(); len(got) != 1 || got[0] != raft.SnapshotFailure {
				t.Errorf("ReportSnapshot%v, want [SnapshotFailure]", got)
			}
			if got := s.picker.pick(); got.String() != "http://localhost:2381" {
				t.Errorf("picker = %s after a failure, want the next URL", got.String())
			}
			for _, name := range []string{"etcd_network_snapshot_send_failures", "etcd_network_peer_sent_failures_total"} {
				if got := utMetricValue(t, f.reg, name, map[string]string{"To": "2"}); got < 1 {
					t.Errorf("%s = %v, want at least 1", name, got)
				}
			}
			if tt.wantErr != nil {
				if err := s.post(ctx, snap.NewMessage(utSnapMsg(3), nil, 0)); !errors.Is(err, tt.wantErr) {
					t.Errorf("post() = %v, want %v", err, tt.wantErr)
				}
			}
			select {
			case err := <-f.errorc:
				if !tt.wantFatal {
					t.Errorf("ErrorC got %v", err)
				}
			default:
				if tt.wantFatal {
					t.Error("ErrorC got nothing after a 403")
				}
			}
		})
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {1234567, "1.2 MB"}, {5 << 30, "5.4 GB"}, {2e12, "2.0 TB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// closeHook is a snapshot body whose Close runs check. CloseWithError
// closes the body just before CloseNotify fires, so check sees what
// whoever waits on CloseNotify will find.
type closeHook struct {
	io.Reader
	check func()
}

func (c closeHook) Close() error {
	c.check()
	return nil
}

// TestSnapshotOutcomeToldBeforeCloseNotify ends a snapshot send every way
// it can end and checks, as the message is closed, that raft, the metrics
// and the send limit already reflect the outcome.
func TestSnapshotOutcomeToldBeforeCloseNotify(t *testing.T) {
	answer := func(code int) utRoundTripper {
		return func(*http.Request) (*http.Response, error) { return utResp(code, nil, ""), nil }
	}
	tests := []struct {
		name       string
		rt         utRoundTripper
		slotsTaken bool // no send slot free: the send is refused
		want       raft.SnapshotStatus
		counter    string
	}{
		{name: "sent", rt: answer(http.StatusNoContent), want: raft.SnapshotFinish, counter: "etcd_network_snapshot_send_success"},
		{name: "post failed", rt: answer(http.StatusInternalServerError), want: raft.SnapshotFailure, counter: "etcd_network_snapshot_send_failures"},
		{name: "refused over the limit", rt: answer(http.StatusNoContent), slotsTaken: true, want: raft.SnapshotFailure, counter: "etcd_network_snapshot_send_failures"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := utNewFixture(t, func(tr *Transport) { tr.Limits.MaxConcurrentSnapshotSends = 1 })
			f.env.snapshotRt = tt.rt
			s := utSnapshotSender(t, f, "http://localhost:2380")
			if tt.slotsTaken {
				if !f.env.guard.snapSends.tryAcquire() {
					t.Fatal("no send slot to take")
				}
				defer f.env.guard.snapSends.release()
			}
			to := map[string]string{"To": "2"}
			checked := false
			body := closeHook{Reader: bytes.NewReader([]byte("db")), check: func() {
				checked = true
				if got := f.raft.snapshotReports(); len(got) != 1 || got[0] != tt.want {
					t.Errorf("at close, ReportSnapshot%v, want [%v]", got, tt.want)
				}
				if got := utMetricValue(t, f.reg, tt.counter, to); got != 1 {
					t.Errorf("at close, %s = %v, want 1", tt.counter, got)
				}
				if got := utMetricValue(t, f.reg, "etcd_network_snapshot_send_inflights_total", to); got != 0 {
					t.Errorf("at close, snapshot_send_inflights_total = %v, want 0", got)
				}
				if !tt.slotsTaken {
					if !f.env.guard.snapSends.tryAcquire() {
						t.Error("at close, the send slot is still held")
					} else {
						f.env.guard.snapSends.release()
					}
				}
			}}
			sm := snap.NewMessage(utSnapMsg(3), body, 2)
			s.send(context.Background(), sm)
			if got := utWaitCloseNotify(t, sm, time.Second); got != (tt.want == raft.SnapshotFinish) {
				t.Errorf("CloseNotify = %v for %v", got, tt.want)
			}
			if !checked {
				t.Error("the message was closed without closing its body")
			}
		})
	}
}

// TestSnapshotToNowhereToldBeforeCloseNotify covers the snapshots that
// never reach a sender: raft hears of the failure before CloseNotify fires.
func TestSnapshotToNowhereToldBeforeCloseNotify(t *testing.T) {
	send := func(t *testing.T, r *recordingRaft, sendSnap func(*snap.Message)) {
		t.Helper()
		sm := snap.NewMessage(utSnapMsg(3), nil, 0)
		var early atomic.Bool
		r.onSnapshotReport = func() { early.Store(len(sm.CloseNotify()) > 0) }
		sendSnap(sm)
		if utWaitCloseNotify(t, sm, time.Second) {
			t.Error("CloseNotify = true for a snapshot nobody could send")
		}
		if got := r.snapshotReports(); len(got) != 1 || got[0] != raft.SnapshotFailure {
			t.Errorf("ReportSnapshot%v, want [SnapshotFailure]", got)
		}
		if early.Load() {
			t.Error("CloseNotify fired before raft heard of the failure")
		}
	}
	t.Run("unknown member", func(t *testing.T) {
		a := startMember(t, 1, nil)
		send(t, a.raft, a.tr.SendSnapshot)
	})
	t.Run("stopped transport", func(t *testing.T) {
		a := startMember(t, 1, nil)
		a.tr.Stop()
		send(t, a.raft, a.tr.SendSnapshot)
	})
	t.Run("stopped peer", func(t *testing.T) {
		f := utNewFixture(t, nil)
		p := startPeer(f.env, 2, utMustURLs(t, "http://localhost:2380"), stats.NewLeaderStats(f.env.lg, "1").Follower("2"))
		p.stop()
		send(t, f.raft, p.sendSnap)
	})
}
