package rafthttp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/transport"
	"github.com/rafthttp/rafthttp/types"
)

// secHostileLimit is the message limit of the member under attack.
const secHostileLimit = 64 << 10

// secHeaders are the protocol headers of an honest request from member 2
// of cluster c1, as raw header lines.
func secHeaders(from string) string {
	return "X-Server-From: " + from + "\r\nX-Server-Version: 3.7.3\r\nX-Min-Cluster-Version: 3.0.0\r\n" +
		"X-Etcd-Cluster-Id: c1\r\nX-Raft-To: 1\r\n"
}

// secRawRequest assembles a request with a Content-Length body.
func secRawRequest(method, path, headers string, body []byte) string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s",
		method, path, headers, len(body), body)
}

// secChunked assembles a chunked POST whose body is one chunk.
func secChunked(path, headers string, body []byte) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
		path, headers, len(body), body)
}

// secDial opens a TCP connection to m's listener.
func secDial(t *testing.T, m *secMember) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(m.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// secRaw writes raw to a new connection to m, half-closes it and returns
// the status and body of the reply.
func secRaw(t *testing.T, m *secMember, raw string) (int, string) {
	t.Helper()
	c := secDial(t, m)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// secBE64 is n as the 8-byte big-endian length prefix of a frame.
func secBE64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// secHostileCase is one malformed request and the reply it must get.
type secHostileCase struct {
	name string
	raw  string
	code int
	body string // "" skips the body check
	// counter must grow by one (nil: no metric check).
	counter map[string]string
}

func secHostileCases(t *testing.T) []secHostileCase {
	h := secHeaders("2")
	hb := secMarshal(t, msg(raftpb.MsgHeartbeat, 2, 1, 1))
	app := secFrame(t, msg(raftpb.MsgApp, 2, 1, 1))
	recv := map[string]string{"name": "etcd_network_peer_received_failures_total", "From": "2"}
	snapFail := map[string]string{"name": "etcd_network_snapshot_receive_failures"}
	return []secHostileCase{
		{name: "pipeline GET", raw: secRawRequest("GET", RaftPrefix, h, nil), code: 405, body: "Method Not Allowed\n"},
		{name: "malformed version", raw: secRawRequest("POST", RaftPrefix, strings.Replace(h, "3.7.3", "garbage", 1), hb),
			code: 412, body: "incompatible version\n"},
		{name: "version overflow", raw: secRawRequest("POST", RaftPrefix, strings.Replace(h, "3.7.3", "99999999999999999999.0.0", 1), hb),
			code: 412, body: "incompatible version\n"},
		{name: "malformed min version", raw: secRawRequest("POST", RaftPrefix, strings.Replace(h, "3.0.0", "3.x", 1), hb),
			code: 412, body: "incompatible version\n"},
		{name: "other cluster", raw: secRawRequest("POST", RaftPrefix, strings.Replace(h, "c1", "c2", 1), hb),
			code: 412, body: "cluster ID mismatch\n"},
		{name: "pipeline body over limit", raw: secChunked(RaftPrefix, h, make([]byte, secHostileLimit+1)),
			code: 413, body: "rafthttp: error limit exceeded\n", counter: recv},
		{name: "pipeline body shorter than declared",
			raw:  strings.Replace(secRawRequest("POST", RaftPrefix, h, hb), fmt.Sprintf("Content-Length: %d", len(hb)), "Content-Length: 1099511627776", 1),
			code: 400, body: "error reading raft message\n", counter: recv},
		{name: "malformed protobuf", raw: secRawRequest("POST", RaftPrefix, h, []byte{0x08, 0xff}),
			code: 400, body: "error unmarshalling raft message\n", counter: recv},
		{name: "snapshot envelope length 2^63", raw: secChunked(RaftSnapshotPrefix, h, secBE64(1<<63)),
			code: 400, body: "failed to decode raft message (rafthttp: error limit exceeded)\n", counter: snapFail},
		{name: "snapshot envelope truncated", raw: secChunked(RaftSnapshotPrefix, h, append(secBE64(100), 1, 2)),
			code: 400, body: "failed to decode raft message (unexpected EOF)\n", counter: snapFail},
		{name: "snapshot envelope not protobuf", raw: secChunked(RaftSnapshotPrefix, h, append(secBE64(2), 0x08, 0xff)),
			code: 400, counter: snapFail},
		{name: "snapshot of wrong type", raw: secChunked(RaftSnapshotPrefix, h, app),
			code: 400, body: "wrong raft message type\n", counter: snapFail},
		{name: "stream POST", raw: secRawRequest("POST", RaftStreamPrefix+"/message/2", h, nil), code: 405},
		{name: "stream bad path", raw: secRawRequest("GET", RaftStreamPrefix+"/strange/2", h, nil), code: 404, body: "invalid path\n"},
		{name: "stream bad from", raw: secRawRequest("GET", RaftStreamPrefix+"/message/zz", h, nil), code: 404, body: "invalid from\n"},
		{name: "stream from overflows", raw: secRawRequest("GET", RaftStreamPrefix+"/message/1ffffffffffffffff", h, nil),
			code: 404, body: "invalid from\n"},
		{name: "stream unknown sender", raw: secRawRequest("GET", RaftStreamPrefix+"/message/9", h, nil),
			code: 404, body: "error sender not found\n"},
		{name: "stream removed member", raw: secRawRequest("GET", RaftStreamPrefix+"/message/5", h, nil), code: 410, body: "removed member\n"},
		{name: "stream for another member", raw: secRawRequest("GET", RaftStreamPrefix+"/msgapp/2", strings.Replace(h, "X-Raft-To: 1", "X-Raft-To: 7", 1), nil),
			code: 412, body: "to field mismatch\n"},
		{name: "headers over MaxHeaderBytes", raw: secRawRequest("POST", RaftPrefix, h+"X-Junk: "+strings.Repeat("a", 2*DefaultMaxHeaderBytes)+"\r\n", hb),
			code: 431},
		{name: "not HTTP", raw: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", code: 400},
		{name: "unknown path", raw: secRawRequest("GET", "/raft/nothing", h, nil), code: 404, body: "404 page not found\n"},
	}
}

// TestHostileClients drives a live member with malformed requests of
// every kind, checking each reply and metric, while it keeps exchanging
// messages with a healthy peer.
func TestHostileClients(t *testing.T) {
	a := startSecMember(t, 1, transport.TLSInfo{}, secOpts{tr: func(tr *Transport) {
		tr.Limits.MaxMessageBytes = secHostileLimit
		tr.Raft.(*recordingRaft).removedID = 5
	}})
	b := startSecMember(t, 2, transport.TLSInfo{}, secOpts{})
	secConnect(t, a, b)
	for i, tt := range secHostileCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			var before float64
			if tt.counter != nil {
				before = secCounter(t, a, tt.counter)
			}
			code, body := secRaw(t, a, tt.raw)
			if code != tt.code || (tt.body != "" && body != tt.body) {
				t.Errorf("got %d %q, want %d %q", code, body, tt.code, tt.body)
			}
			if tt.counter != nil {
				if after := secCounter(t, a, tt.counter); after != before+1 {
					t.Errorf("%v went from %v to %v", tt.counter, before, after)
				}
			}
			secExchange(t, a, b, uint64(100+i))
		})
	}
	select {
	case m := <-a.raft.recvc:
		if m.GetType() != raftpb.MsgHeartbeat || m.GetFrom() != 2 {
			t.Errorf("a malformed request reached raft: %v", m)
		}
	default:
	}
}

// secCounter reads the metric named by labels["name"] with the other
// labels.
func secCounter(t *testing.T, m *secMember, labels map[string]string) float64 {
	t.Helper()
	want := map[string]string{}
	for k, v := range labels {
		if k != "name" {
			want[k] = v
		}
	}
	return secMetric(t, m.reg, labels["name"], want)
}

// secTrickle writes raw to c one byte per interval until it is done or a
// write fails; the returned channel closes when it stops.
func secTrickle(c net.Conn, raw string, interval time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range len(raw) {
			if _, err := c.Write([]byte{raw[i]}); err != nil {
				return
			}
			time.Sleep(interval)
		}
	}()
	return done
}

// secAwaitClose waits until the server closes c (a read returns an error
// or a reply) and returns how long that took.
func secAwaitClose(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", within)
	}
	return time.Since(start)
}

// TestHostileSlowPeers holds connections open with a peer that trickles
// one byte per second and one that sends nothing: ReadHeaderTimeout
// closes both, although each read stays within the listener's per-read
// timeout.
func TestHostileSlowPeers(t *testing.T) {
	const headerTimeout = 1500 * time.Millisecond
	m := startSecMember(t, 1, transport.TLSInfo{}, secOpts{
		listener: ListenerConfig{ReadTimeout: DefaultConnReadTimeout, WriteTimeout: DefaultConnWriteTimeout},
		server:   func(s *http.Server) { s.ReadHeaderTimeout = headerTimeout },
	})
	trickler, idle := secDial(t, m), secDial(t, m)
	done := secTrickle(trickler, secRawRequest("POST", RaftPrefix, secHeaders("2"), nil), time.Second)
	for name, c := range map[string]net.Conn{"trickler": trickler, "idle": idle} {
		if d := secAwaitClose(t, c, headerTimeout+3*time.Second); d > headerTimeout+2*time.Second {
			t.Errorf("%s held its connection for %v", name, d)
		}
	}
	trickler.Close()
	<-done
}

// TestHostileSnapshotReceiveCap lets a slow sender hold the only snapshot
// slot, stalling in its DB bytes: another sender gets 503 until the slot
// is free.
func TestHostileSnapshotReceiveCap(t *testing.T) {
	m := startSecMember(t, 1, transport.TLSInfo{}, secOpts{tr: func(tr *Transport) {
		tr.Limits.MaxConcurrentSnapshotReceives = 1
	}})
	snapshot := func(index uint64) []byte {
		sm := msg(raftpb.MsgSnap, 2, 1, index)
		sm.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(1)}}
		return append(secFrame(t, sm), "db"...)
	}
	slow := secDial(t, m)
	body := snapshot(8)
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n",
		RaftSnapshotPrefix, secHeaders("2"), len(body), body)
	if _, err := io.WriteString(slow, head); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the slow sender to take the slot", func() bool {
		return secCounter(t, m, map[string]string{"name": "etcd_network_snapshot_receive_inflights_total"}) == 1
	})
	honest := secChunked(RaftSnapshotPrefix, secHeaders("2"), snapshot(9))
	code, reply := secRaw(t, m, honest)
	if code != http.StatusServiceUnavailable || reply != errTooManySnapshotReceives.Error()+"\n" {
		t.Errorf("got %d %q, want 503 %q", code, reply, errTooManySnapshotReceives)
	}
	refused := map[string]string{"name": "etcd_network_snapshot_receive_failures", "From": unknownSnapshotSender}
	if got := secCounter(t, m, refused); got != 1 {
		t.Errorf("refusals counted %v, want 1", got)
	}
	slow.Close()
	waitFor(t, 5*time.Second, "the slot to be released", func() bool {
		code, _ := secRaw(t, m, honest)
		return code == http.StatusNoContent
	})
	secReceive(t, m.raft, raftpb.MsgSnap, 9)
}

// TestHostileConnsPerHost opens more connections from one address than
// the listener allows: the extra ones are closed at once, and a slot
// freed by a closed connection is reused.
func TestHostileConnsPerHost(t *testing.T) {
	const limit = 3
	m := startSecMember(t, 1, transport.TLSInfo{}, secOpts{listener: ListenerConfig{MaxConnsPerHost: limit}})
	probe := secRawRequest("GET", ProbingPrefix, "", nil)
	served := func(c net.Conn) bool {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, probe); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	var conns []net.Conn
	for range limit {
		c := secDial(t, m)
		if !served(c) {
			t.Fatal("a connection under the limit was not served")
		}
		conns = append(conns, c)
	}
	if extra := secDial(t, m); served(extra) {
		t.Fatal("a connection over the limit was served")
	}
	conns[0].Close()
	waitFor(t, 5*time.Second, "a freed slot to be reused", func() bool {
		return served(secDial(t, m))
	})
}

// TestHostileStreamFlood opens many streams claiming to be member 2: each
// replaces the previous one, whose handler ends, so handlers and
// goroutines do not accumulate; the real member 2 then gets its stream
// back.
func TestHostileStreamFlood(t *testing.T) {
	a := startSecMember(t, 1, transport.TLSInfo{}, secOpts{})
	b := startSecMember(t, 2, transport.TLSInfo{}, secOpts{})
	secConnect(t, a, b)
	before := runtime.NumGoroutine()
	type stream struct {
		c    net.Conn
		resp *http.Response
	}
	var prev *stream
	for i := range 40 {
		c := secDial(t, a)
		if _, err := io.WriteString(c, secRawRequest("GET", RaftStreamPrefix+"/message/2", secHeaders("2"), nil)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %v %v", i, resp, err)
		}
		if prev != nil {
			// The replaced stream's response ends: its handler returned.
			_ = prev.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, prev.resp.Body); err != nil {
				t.Fatalf("stream %d was not ended by its successor: %v", i-1, err)
			}
			prev.c.Close()
		}
		prev = &stream{c: c, resp: resp}
	}
	if after := runtime.NumGoroutine(); after > before+10 {
		t.Errorf("goroutines grew from %d to %d over 40 streams", before, after)
	}
	prev.c.Close()
	// Messages written into the attacker's last stream are lost; member 2
	// redials and then gets them again.
	secDeliverEventually(t, a, b, 7)
	secDeliverEventually(t, b, a, 7)
}

// secDeliverEventually sends heartbeats from one member to another until
// one arrives.
func secDeliverEventually(t *testing.T, from, to *secMember, term uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		from.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, uint64(from.tr.ID), uint64(to.tr.ID), term)})
		select {
		case m := <-to.raft.recvc:
			if m.GetTerm() == term {
				return
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("no heartbeat from %s reached %s", from.tr.ID, to.tr.ID)
}

// TestHostileRemoteFlood sends requests from many made-up members with
// X-PeerURLs: MaxRemotes bounds the remotes (and their goroutines) they
// create.
func TestHostileRemoteFlood(t *testing.T) {
	const limit = 3
	m := startSecMember(t, 1, transport.TLSInfo{}, secOpts{tr: func(tr *Transport) { tr.Limits.MaxRemotes = limit }})
	for i := range 20 {
		from := types.ID(100 + i)
		h := secHeaders(from.String()) + "X-PeerURLs: http://127.0.0.1:1\r\n"
		if code, body := secRaw(t, m, secRawRequest("POST", RaftPrefix, h, secMarshal(t, msg(raftpb.MsgHeartbeat, uint64(from), 1, 1)))); code != 204 {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	m.tr.mu.RLock()
	n := len(m.tr.remotes)
	m.tr.mu.RUnlock()
	if n != limit {
		t.Errorf("%d remotes, want %d", n, limit)
	}
}

// TestHostileSenderLabelsBounded sends failures under thousands of
// made-up member IDs: the metric keeps a bounded number of series.
func TestHostileSenderLabelsBounded(t *testing.T) {
	s := &labelSet{max: 3, seen: map[string]struct{}{}}
	for i, want := range []string{"a", "b", "a", "c", "other", "other", "b"} {
		v := []string{"a", "b", "a", "c", "d", "e", "b"}[i]
		if got := s.admit(v); got != want {
			t.Errorf("admit(%q) = %q, want %q", v, got, want)
		}
	}
	m := startSecMember(t, 1, transport.TLSInfo{}, secOpts{})
	h := m.tr.Handler()
	for i := range maxSenderLabels + 50 {
		req := httptest.NewRequest(http.MethodPost, RaftPrefix, strings.NewReader("\xff"))
		for k, v := range map[string]string{hdrServerFrom: types.ID(1000 + i).String(), hdrClusterID: "c1",
			hdrServerVersion: defaultServerVersion, hdrMinClusterVersion: defaultMinClusterVersion} {
			req.Header.Set(k, v)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "etcd_network_peer_received_failures_total" && len(f.GetMetric()) > maxSenderLabels+1 {
			t.Errorf("%d series of received failures", len(f.GetMetric()))
		}
	}
}

// TestHostileSnapshotSendCap sends two snapshots while the receiver holds
// the first: with MaxConcurrentSnapshotSends 1 the second fails at once
// and raft hears of it.
func TestHostileSnapshotSendCap(t *testing.T) {
	release := make(chan struct{})
	receiver := startBlockingSnapshotServer(t, release)
	a := startSecMember(t, 1, transport.TLSInfo{}, secOpts{tr: func(tr *Transport) {
		tr.Limits.MaxConcurrentSnapshotSends = 1
	}})
	a.tr.AddPeer(2, []string{receiver})
	first, second := secSnapMessage(), secSnapMessage()
	a.tr.SendSnapshot(first)
	waitFor(t, 5*time.Second, "the first snapshot to be in flight", func() bool {
		return secMetric(t, a.reg, "etcd_network_snapshot_send_inflights_total", map[string]string{"To": "2"}) == 1
	})
	a.tr.SendSnapshot(second)
	select {
	case ok := <-second.CloseNotify():
		if ok {
			t.Fatal("the second snapshot succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second snapshot was not refused")
	}
	if got := secMetric(t, a.reg, "etcd_network_snapshot_send_failures", map[string]string{"To": "2"}); got != 1 {
		t.Errorf("snapshot_send_failures = %v, want 1", got)
	}
	close(release)
	if ok := <-first.CloseNotify(); !ok {
		t.Error("the first snapshot failed")
	}
}

// secSnapMessage is a snapshot from member 1 to member 2 with a tiny DB.
func secSnapMessage() *snap.Message {
	m := msg(raftpb.MsgSnap, 1, 2, 1)
	m.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(3), Term: proto.Uint64(1)}}
	return snap.NewMessage(m, io.NopCloser(bytes.NewReader([]byte("db"))), 2)
}

// startBlockingSnapshotServer serves a fake member whose snapshot
// endpoint reads the body and then waits for release before answering
// 204; it returns the server's URL.
func startBlockingSnapshotServer(t *testing.T, release <-chan struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != RaftSnapshotPrefix {
			http.NotFound(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHostileStreamAnnouncesHugeMessage dials a fake peer whose message
// stream announces a 256 MiB frame (under the 512 MiB limit), sends 1 KiB
// of it and stalls: the reader gives up after the read timeout without
// allocating the announced size.
func TestHostileStreamAnnouncesHugeMessage(t *testing.T) {
	gaveUp := make(chan struct{}, 1)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(hdrServerVersion, defaultServerVersion)
		if r.URL.Path != streamTypeMessage.endpoint()+"/1" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(secBE64(256<<20), make([]byte, 1<<10)...))
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
		select {
		case gaveUp <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(fake.Close)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := startSecMember(t, 1, transport.TLSInfo{}, secOpts{tr: func(tr *Transport) {
		tr.ConnReadTimeout = 300 * time.Millisecond
	}})
	a.tr.AddPeer(2, []string{fake.URL})
	select {
	case <-gaveUp:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader never gave up on the stalled frame")
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("allocated %d MiB for a frame that sent 1 KiB", grew>>20)
	}
}
