package rafthttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/stats"
	"github.com/rafthttp/rafthttp/transport"
	"github.com/rafthttp/rafthttp/types"
)

// utIdleTransport is a running Transport's state with peer 2 and remote 3
// whose goroutines never run, so tests can look into their queues.
func utIdleTransport(t *testing.T, f *utFixture) (*Transport, *peer, *remote) {
	t.Helper()
	p := utNewIdlePeer(t, f, nil)
	rstatus := newPeerStatus(f.env.lg, f.env.metrics, 1, 3)
	r := &remote{lg: f.env.lg, env: f.env, id: 3, status: rstatus,
		pipeline: newPipeline(f.env, f.env.lg, 3, newURLPicker(utMustURLs(t, "http://localhost:2390")), rstatus, nil)}
	tr := &Transport{ID: 1, ClusterID: 0xc1, Raft: f.raft, env: f.env,
		peers: map[types.ID]*peer{2: p}, remotes: map[types.ID]*remote{3: r}}
	return tr, p, r
}

// utDrain returns the terms of the messages queued on c.
func utDrain(c chan *raftpb.Message) []uint64 {
	var terms []uint64
	for {
		select {
		case m := <-c:
			terms = append(terms, m.GetTerm())
		default:
			return terms
		}
	}
}

// utTerms returns the terms of ms, in order.
func utTerms(ms []*raftpb.Message) []uint64 {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.GetTerm())
	}
	return out
}

func utEqualTerms(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTransportSendRoutes(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) { tr.ServerStats = stats.NewServerStats("1", "1") })
	tr, p, r := utIdleTransport(t, f)

	tr.Send([]*raftpb.Message{
		msg(raftpb.MsgHeartbeat, 1, 0, 1), // To == 0: intentionally dropped
		msg(raftpb.MsgApp, 1, 2, 2),
		msg(raftpb.MsgHeartbeat, 1, 99, 3), // unknown target
		msg(raftpb.MsgHeartbeat, 1, 2, 4),
		msg(raftpb.MsgAppResp, 1, 3, 5),
		msg(raftpb.MsgApp, 1, 3, 6), // to a remote: not counted as sent
		msg(raftpb.MsgApp, 1, 2, 7),
		msg(raftpb.MsgApp, 1, 2, 8),
	})
	if got := utDrain(p.pipeline.msgc); !utEqualTerms(got, []uint64{2, 4, 7, 8}) {
		t.Errorf("peer 2 got terms %v, want [2 4 7 8] in order", got)
	}
	if got := utDrain(r.pipeline.msgc); !utEqualTerms(got, []uint64{5, 6}) {
		t.Errorf("remote 3 got terms %v, want [5 6]", got)
	}
	f.env.server.Lock()
	apps := f.env.server.SendAppendRequestCnt
	f.env.server.Unlock()
	if apps != 3 {
		t.Errorf("ServerStats counted %d MsgApps, want 3", apps)
	}
}

func TestTransportCutMendPauseResume(t *testing.T) {
	f := utNewFixture(t, nil)
	tr, p, r := utIdleTransport(t, f)
	send := func() {
		tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1), msg(raftpb.MsgHeartbeat, 1, 3, 1)})
	}
	steps := []struct {
		name             string
		do               func()
		toPeer, toRemote int
	}{
		{"normal", func() {}, 1, 1},
		{"CutPeer(2)", func() { tr.CutPeer(2) }, 0, 1},
		{"MendPeer(2)", func() { tr.MendPeer(2) }, 1, 1},
		{"CutPeer(3) cuts the remote", func() { tr.CutPeer(3) }, 1, 0},
		{"MendPeer(3)", func() { tr.MendPeer(3) }, 1, 1},
		{"Pause pauses peers, not remotes", tr.Pause, 0, 1},
		{"Resume", tr.Resume, 1, 1},
		{"CutPeer of an unknown ID is harmless", func() { tr.CutPeer(42) }, 1, 1},
	}
	for _, st := range steps {
		st.do()
		send()
		if got := len(utDrain(p.pipeline.msgc)); got != st.toPeer {
			t.Errorf("%s: peer got %d messages, want %d", st.name, got, st.toPeer)
		}
		if got := len(utDrain(r.pipeline.msgc)); got != st.toRemote {
			t.Errorf("%s: remote got %d messages, want %d", st.name, got, st.toRemote)
		}
	}
}

func TestTransportCutPeerDropsReceivedMessages(t *testing.T) {
	a := startMember(t, 1, nil)
	b := startMember(t, 2, utWithRegistry)
	connect(t, a, b)

	b.tr.CutPeer(1)
	cut1, cut2 := msg(raftpb.MsgHeartbeat, 1, 2, 1), msg(raftpb.MsgHeartbeat, 1, 2, 2)
	a.tr.Send([]*raftpb.Message{cut1, cut2})
	// The reader counts each message before it looks at the pause flag,
	// so once cut2 is counted, cut1 has certainly been dropped (cut2 may
	// still race with MendPeer).
	waitFor(t, 5*time.Second, "both cut messages to be read", func() bool {
		return utMetricValue(t, utGatherer(t, b), "etcd_network_peer_received_bytes_total",
			map[string]string{"From": "1"}) == float64(proto.Size(cut1)+proto.Size(cut2))
	})
	b.tr.MendPeer(1)
	a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 3)})
	for {
		got := b.raft.receive(t)
		if got.GetTerm() == 1 {
			t.Fatal("the message sent while cut was delivered")
		}
		if got.GetTerm() == 3 {
			break
		}
	}
}

func TestTransportAddPeer(t *testing.T) {
	ls := stats.NewLeaderStats(nil, "1")
	m := startMember(t, 1, func(tr *Transport) { tr.LeaderStats = ls })
	m.tr.AddPeer(2, []string{"http://127.0.0.1:1"})
	first := m.tr.Get(2)
	if first == nil {
		t.Fatal("AddPeer did not add the peer")
	}
	if names := ls.FollowerNames(); len(names) != 1 || names[0] != "2" {
		t.Errorf("LeaderStats followers = %v, want [2]", names)
	}
	m.tr.AddPeer(2, []string{"http://127.0.0.1:2"})
	if m.tr.Get(2) != first {
		t.Error("a second AddPeer replaced the peer")
	}
	if got := first.(*peer).picker.pick(); got.String() != "http://127.0.0.1:1" {
		t.Errorf("a second AddPeer changed the URLs to %s", got.String())
	}

	m.tr.AddPeer(3, []string{"not a url"})
	m.tr.AddPeer(4, nil)
	if m.tr.Get(3) != nil || m.tr.Get(4) != nil {
		t.Error("AddPeer with invalid URLs added a peer")
	}
}

func TestTransportRemovePeer(t *testing.T) {
	ls := stats.NewLeaderStats(nil, "1")
	m := startMember(t, 1, func(tr *Transport) { tr.LeaderStats = ls })
	for _, id := range []types.ID{2, 3, 4} {
		m.tr.AddPeer(id, []string{"http://127.0.0.1:1"})
	}
	m.tr.RemovePeer(2)
	if m.tr.Get(2) != nil {
		t.Error("RemovePeer left the peer")
	}
	m.tr.RemovePeer(2) // idempotent
	m.tr.RemovePeer(9) // unknown
	if names := ls.FollowerNames(); len(names) != 2 || names[0] != "3" || names[1] != "4" {
		t.Errorf("LeaderStats followers = %v, want [3 4]", names)
	}
	m.tr.RemoveAllPeers()
	if m.tr.Get(3) != nil || m.tr.Get(4) != nil {
		t.Error("RemoveAllPeers left peers")
	}
	if names := ls.FollowerNames(); len(names) != 0 {
		t.Errorf("LeaderStats followers = %v after RemoveAllPeers, want none", names)
	}
	// The Transport stays usable.
	m.tr.AddPeer(2, []string{"http://127.0.0.1:1"})
	if m.tr.Get(2) == nil {
		t.Error("AddPeer after RemoveAllPeers failed")
	}
}

func TestTransportUpdatePeer(t *testing.T) {
	tests := []struct {
		name    string
		id      types.ID
		urls    []string
		wantURL string
	}{
		{"new URLs", 2, []string{"http://127.0.0.1:3", "http://127.0.0.1:2"}, "http://127.0.0.1:2,http://127.0.0.1:3"},
		{"unknown ID", 7, []string{"http://127.0.0.1:2"}, "http://127.0.0.1:1"},
		{"invalid URLs", 2, []string{"::bad"}, "http://127.0.0.1:1"},
		{"no URLs", 2, nil, "http://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMember(t, 1, nil)
			m.tr.AddPeer(2, []string{"http://127.0.0.1:1"})
			m.tr.UpdatePeer(tt.id, tt.urls)
			// The URL set, not the current pick: failed stream dials to these
			// dead addresses move the pick along.
			pk := m.tr.Get(2).(*peer).picker
			pk.mu.Lock()
			got := pk.urls.String()
			pk.mu.Unlock()
			if got != tt.wantURL {
				t.Errorf("peer 2 has URLs %s, want %s", got, tt.wantURL)
			}
			if tt.id != 2 && m.tr.Get(tt.id) != nil {
				t.Error("UpdatePeer of an unknown ID created a peer")
			}
		})
	}
}

func TestTransportAddRemote(t *testing.T) {
	m := startMember(t, 1, nil)
	m.tr.AddPeer(2, []string{"http://127.0.0.1:1"})
	m.tr.AddRemote(2, []string{"http://127.0.0.1:1"})
	if utHasRemote(m.tr, 2) {
		t.Error("AddRemote of a peer's ID added a remote")
	}
	m.tr.AddRemote(3, []string{"bad"})
	if utHasRemote(m.tr, 3) {
		t.Error("AddRemote with invalid URLs added a remote")
	}
	m.tr.AddRemote(3, []string{"http://127.0.0.1:1"})
	m.tr.AddRemote(3, []string{"http://127.0.0.1:2"})
	if !utHasRemote(m.tr, 3) {
		t.Fatal("AddRemote did not add the remote")
	}
	m.tr.mu.RLock()
	got := m.tr.remotes[3].pipeline.picker.pick()
	m.tr.mu.RUnlock()
	if got.String() != "http://127.0.0.1:1" {
		t.Errorf("a second AddRemote changed the remote's URL to %s", got.String())
	}
	if !m.tr.ActiveSince(3).IsZero() {
		t.Error("ActiveSince of a remote is not zero")
	}
}

func TestTransportLifecycle(t *testing.T) {
	tests := []struct {
		name    string
		tr      func() *Transport
		wantErr string
	}{
		{"no Raft", func() *Transport { return &Transport{ID: 1} }, "Raft is nil"},
		{"bad ServerVersion", func() *Transport {
			return &Transport{ID: 1, Raft: newRecordingRaft(), ServerVersion: "three"}
		}, "ServerVersion"},
		{"bad MinClusterVersion", func() *Transport {
			return &Transport{ID: 1, Raft: newRecordingRaft(), MinClusterVersion: "3.x"}
		}, "MinClusterVersion"},
		{"started twice", func() *Transport {
			tr := &Transport{ID: 1, Raft: newRecordingRaft()}
			if err := tr.Start(); err != nil {
				t.Fatal(err)
			}
			return tr
		}, "already started"},
		{"started after Stop", func() *Transport {
			tr := &Transport{ID: 1, Raft: newRecordingRaft()}
			if err := tr.Start(); err != nil {
				t.Fatal(err)
			}
			tr.Stop()
			return tr
		}, "already started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.tr()
			defer tr.Stop()
			err := tr.Start()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start() = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestTransportCallsAfterStopAreHarmless(t *testing.T) {
	for _, name := range []string{"never started", "stopped"} {
		t.Run(name, func(t *testing.T) {
			tr := &Transport{ID: 1, ClusterID: 0xc1, Raft: newRecordingRaft()}
			if name == "stopped" {
				if err := tr.Start(); err != nil {
					t.Fatal(err)
				}
				tr.AddPeer(2, []string{"http://127.0.0.1:1"})
				tr.Stop()
				tr.Stop() // twice is fine
			}
			tr.AddPeer(3, []string{"http://127.0.0.1:1"})
			tr.AddRemote(4, []string{"http://127.0.0.1:1"})
			tr.UpdatePeer(2, []string{"http://127.0.0.1:2"})
			tr.RemovePeer(2)
			tr.RemoveAllPeers()
			tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
			tr.CutPeer(2)
			tr.MendPeer(2)
			tr.Pause()
			tr.Resume()
			if tr.Get(2) != nil || tr.Get(3) != nil {
				t.Error("a stopped Transport has peers")
			}
			if n := tr.ActivePeers(); n != 0 {
				t.Errorf("ActivePeers = %d", n)
			}
			sm := snap.NewMessage(msg(raftpb.MsgSnap, 1, 2, 1), nil, 0)
			tr.SendSnapshot(sm)
			if utWaitCloseNotify(t, sm, time.Second) {
				t.Error("CloseNotify = true for a snapshot on a stopped Transport")
			}
		})
	}
}

func TestTransportSendSnapshotToUnknownPeer(t *testing.T) {
	m := startMember(t, 1, nil)
	sm := snap.NewMessage(msg(raftpb.MsgSnap, 1, 5, 1), nil, 0)
	m.tr.SendSnapshot(sm)
	if utWaitCloseNotify(t, sm, time.Second) {
		t.Error("CloseNotify = true for a snapshot to an unknown peer")
	}
}

func TestTransportActivePeers(t *testing.T) {
	a := startMember(t, 1, nil)
	b := startMember(t, 2, nil)
	if n := a.tr.ActivePeers(); n != 0 {
		t.Fatalf("ActivePeers = %d before any peer", n)
	}
	before := time.Now()
	connect(t, a, b)
	if n := a.tr.ActivePeers(); n != 1 {
		t.Errorf("ActivePeers = %d after connecting, want 1", n)
	}
	since := a.tr.ActiveSince(2)
	if since.IsZero() || since.Before(before) || since.After(time.Now()) {
		t.Errorf("ActiveSince(2) = %v, want a time after %v", since, before)
	}
	if !a.tr.ActiveSince(9).IsZero() {
		t.Error("ActiveSince of an unknown ID is not zero")
	}

	b.tr.Stop()
	waitFor(t, 5*time.Second, "peer 2 to become inactive", func() bool { return a.tr.ActiveSince(2).IsZero() })
	if n := a.tr.ActivePeers(); n != 0 {
		t.Errorf("ActivePeers = %d after the peer stopped, want 0", n)
	}
}

// TestTransportDeliversAfterStreamsBreak cuts every connection between two
// members; messages must get through again, through the pipeline or
// re-established streams, without help.
func TestTransportDeliversAfterStreamsBreak(t *testing.T) {
	a := startMember(t, 1, nil)
	b := startMember(t, 2, nil)
	connect(t, a, b)
	a.srv.CloseClientConnections()
	b.srv.CloseClientConnections()

	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for term := uint64(1); ; term++ {
		a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, term)})
		select {
		case got := <-b.raft.recvc:
			if got.GetFrom() != 1 || got.GetType() != raftpb.MsgHeartbeat {
				t.Fatalf("received %v", got)
			}
			return
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message got through within 5s (%d sent)", term)
		}
	}
}

// utFatalPeer is a fake member 2 that rejects everything the way a cluster
// that removed us does: 403 to POSTs and a stream code of choice.
func utFatalPeer(t *testing.T, streamCode int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(hdrServerVersion, "3.7.3")
		switch {
		case strings.HasPrefix(r.URL.Path, RaftStreamPrefix):
			w.WriteHeader(streamCode)
		case r.URL.Path == RaftPrefix:
			posts.Add(1)
			http.Error(w, "cannot process message from removed member", http.StatusForbidden)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &posts
}

func TestTransportErrorC(t *testing.T) {
	tests := []struct {
		name       string
		streamCode int
		send       bool
	}{
		{"403 to a pipeline POST", http.StatusNotFound, true},
		{"410 to a stream dial", http.StatusGone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peerSrv, _ := utFatalPeer(t, tt.streamCode)
			errc := make(chan error, 1)
			m := startMember(t, 1, func(tr *Transport) { tr.ErrorC = errc })
			m.tr.AddPeer(2, []string{peerSrv.URL})
			if tt.send {
				select {
				case err := <-errc:
					t.Fatalf("ErrorC got %v before anything was sent", err)
				default:
				}
				m.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
			}
			select {
			case err := <-errc:
				if !errors.Is(err, errMemberRemoved) {
					t.Errorf("ErrorC got %v, want errMemberRemoved", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("nothing on ErrorC")
			}
		})
	}
}

func TestTransportNilErrorCDoesNotBlock(t *testing.T) {
	peerSrv, posts := utFatalPeer(t, http.StatusGone)
	m := startMember(t, 1, nil)
	m.tr.AddPeer(2, []string{peerSrv.URL})
	for term := uint64(1); term <= 3; term++ {
		m.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, term)})
	}
	waitFor(t, 5*time.Second, "all three POSTs", func() bool { return posts.Load() == 3 })

	// A full ErrorC drops the report instead of blocking too.
	f := utNewFixture(t, nil)
	f.errorc <- errors.New("earlier")
	f.env.reportCritical(errMemberRemoved)
	f.env.errorc = nil
	f.env.reportCritical(errMemberRemoved)
}

func TestTransportUsesDialContext(t *testing.T) {
	b := startMember(t, 2, nil)
	var dials atomic.Int64
	a := startMember(t, 1, func(tr *Transport) {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	})
	connect(t, a, b)
	if dials.Load() == 0 {
		t.Error("the Transport did not dial through DialContext")
	}
	a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
	if got := b.raft.receive(t); !proto.Equal(got, msg(raftpb.MsgHeartbeat, 1, 2, 1)) {
		t.Errorf("received %v", got)
	}
}

func TestNewRoundTripper(t *testing.T) {
	rt, err := NewRoundTripper(transport.TLSInfo{}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ht, ok := rt.(*http.Transport)
	if !ok {
		t.Fatalf("NewRoundTripper returned %T, want *http.Transport", rt)
	}
	defer ht.CloseIdleConnections()
	if ht.MaxIdleConnsPerHost != 1024 {
		t.Errorf("MaxIdleConnsPerHost = %d, want 1024", ht.MaxIdleConnsPerHost)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestNewListenerAppliesReadDeadline(t *testing.T) {
	l, err := NewListenerWithTimeouts(url.URL{Scheme: "http", Host: "127.0.0.1:0"}, nil, 50*time.Millisecond, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client := utDial(t, l.Addr().String())
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := server.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("Read = %q, %v", buf, err)
	}
	if _, err := server.Write([]byte("ok")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	start := time.Now()
	_, err = server.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read from a silent client = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timed out after %v, want about 50ms", d)
	}
}

func TestNewListenerErrors(t *testing.T) {
	tests := []struct {
		name string
		u    url.URL
		info *transport.TLSInfo
	}{
		{"https without certificate", url.URL{Scheme: "https", Host: "127.0.0.1:0"}, nil},
		{"https with empty TLSInfo", url.URL{Scheme: "https", Host: "127.0.0.1:0"}, &transport.TLSInfo{}},
		{"https with missing files", url.URL{Scheme: "https", Host: "127.0.0.1:0"},
			&transport.TLSInfo{CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"}},
		{"unusable address", url.URL{Scheme: "http", Host: "256.0.0.1:0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewListener(tt.u, tt.info)
			if err == nil {
				l.Close()
				t.Fatal("NewListener succeeded")
			}
		})
	}
}
