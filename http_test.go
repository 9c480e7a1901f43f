package rafthttp

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// utWithRegistry gives a Transport a registry of its own; read it back
// with utGatherer.
func utWithRegistry(tr *Transport) { tr.Registerer = prometheus.NewRegistry() }

func utGatherer(t *testing.T, m *testMember) prometheus.Gatherer {
	t.Helper()
	g, ok := m.tr.Registerer.(prometheus.Gatherer)
	if !ok {
		t.Fatal("member has no registry; start it with utWithRegistry")
	}
	return g
}

func utSnapshotter(dir string) *snap.Snapshotter { return snap.New(nil, dir) }

// utDirFiles lists the names in dir.
func utDirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// utCheckSavedDB fails unless dir holds exactly the DB file for index, with
// content want.
func utCheckSavedDB(t *testing.T, dir string, index uint64, want []byte) {
	t.Helper()
	name := fmt.Sprintf("%016x.snap.db", index)
	if files := utDirFiles(t, dir); len(files) != 1 || files[0] != name {
		t.Fatalf("snapshot dir holds %v, want [%s]", files, name)
	}
	got, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("saved DB differs: %d bytes, want %d", len(got), len(want))
	}
}

// utDial opens a TCP connection that the test closes.
func utDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// utPeerRequest builds a request as a compatible member 2 of cluster c1
// sends it.
func utPeerRequest(method, target string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	req.Header.Set(hdrServerFrom, "2")
	req.Header.Set(hdrServerVersion, "3.7.3")
	req.Header.Set(hdrMinClusterVersion, "3.0.0")
	req.Header.Set(hdrClusterID, "c1")
	return req
}

// utServe runs one request through h and returns the recorded reply.
func utServe(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// utCheckReply fails unless rec has the status and, when body is not
// empty, exactly that body.
func utCheckReply(t *testing.T, rec *httptest.ResponseRecorder, code int, body string) {
	t.Helper()
	if rec.Code != code {
		t.Errorf("status = %d, want %d (body %q)", rec.Code, code, rec.Body.String())
	}
	if body != "" && rec.Body.String() != body {
		t.Errorf("body = %q, want %q", rec.Body.String(), body)
	}
}

// utHasRemote reports whether tr has a remote with that ID.
func utHasRemote(tr *Transport, id types.ID) bool {
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	_, ok := tr.remotes[id]
	return ok
}

// utErrReader fails every Read.
type utErrReader struct{ err error }

func (r utErrReader) Read([]byte) (int, error) { return 0, r.err }

// utWriteToError chooses its own HTTP reply, in the shape etcd's rafthttp
// expects.
type utWriteToError struct{ code int }

func (e utWriteToError) Error() string                 { return "custom reply" }
func (e utWriteToError) WriteTo(w http.ResponseWriter) { w.WriteHeader(e.code) }

// utWriteToResultError has the shape of etcd's httptypes.HTTPError.
type utWriteToResultError struct{ code int }

func (e utWriteToResultError) Error() string { return "custom reply with result" }
func (e utWriteToResultError) WriteTo(w http.ResponseWriter) error {
	http.Error(w, "from the error", e.code)
	return nil
}

func utMarshal(t *testing.T, m *raftpb.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPipelineHandlerRejects(t *testing.T) {
	valid := func(t *testing.T) io.Reader {
		return bytes.NewReader(utMarshal(t, msg(raftpb.MsgHeartbeat, 2, 1, 1)))
	}
	tests := []struct {
		name   string
		method string
		body   func(t *testing.T) io.Reader
		header map[string]string // "" deletes
		code   int
		reply  string
		// failureFrom labels the expected receive failure; "" means "2".
		failureFrom string
	}{
		{name: "GET", method: http.MethodGet, body: valid, code: 405, reply: "Method Not Allowed\n"},
		{name: "PUT", method: http.MethodPut, body: valid, code: 405, reply: "Method Not Allowed\n"},
		{name: "DELETE", method: http.MethodDelete, body: valid, code: 405, reply: "Method Not Allowed\n"},
		{name: "no server version", body: valid, header: map[string]string{hdrServerVersion: ""}, code: 412, reply: "incompatible version\n"},
		{name: "server version too low", body: valid, header: map[string]string{hdrServerVersion: "2.3.0"}, code: 412, reply: "incompatible version\n"},
		{name: "garbage server version", body: valid, header: map[string]string{hdrServerVersion: "garbage"}, code: 412, reply: "incompatible version\n"},
		{name: "four-part server version", body: valid, header: map[string]string{hdrServerVersion: "3.5.0.1"}, code: 412, reply: "incompatible version\n"},
		{name: "garbage min cluster version", body: valid, header: map[string]string{hdrMinClusterVersion: "x.y"}, code: 412, reply: "incompatible version\n"},
		{name: "min cluster version above ours", body: valid, header: map[string]string{hdrMinClusterVersion: "4.0.0"}, code: 412, reply: "incompatible version\n"},
		{name: "cluster ID mismatch", body: valid, header: map[string]string{hdrClusterID: "c2"}, code: 412, reply: "cluster ID mismatch\n"},
		{name: "missing cluster ID", body: valid, header: map[string]string{hdrClusterID: ""}, code: 412, reply: "cluster ID mismatch\n"},
		{name: "body read error", body: func(*testing.T) io.Reader { return utErrReader{errors.New("reset by peer")} }, code: 400, reply: "error reading raft message\n"},
		{name: "garbage protobuf", body: func(*testing.T) io.Reader { return strings.NewReader("\xff\xff\xff") }, code: 400, reply: "error unmarshalling raft message\n"},
		{name: "body over the limit", body: func(*testing.T) io.Reader { return bytes.NewReader(make([]byte, 65)) }, code: 413},
		// Without a member ID the failure is counted under the sender's
		// IP (etcd uses ip:port, a new series per connection).
		{name: "anonymous garbage", body: func(*testing.T) io.Reader { return strings.NewReader("\xff") },
			header: map[string]string{hdrServerFrom: ""}, code: 400, reply: "error unmarshalling raft message\n", failureFrom: "192.0.2.1"},
		{name: "unparseable sender ID", body: func(*testing.T) io.Reader { return strings.NewReader("\xff") },
			header: map[string]string{hdrServerFrom: "0x2"}, code: 400, reply: "error unmarshalling raft message\n", failureFrom: "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMember(t, 1, func(tr *Transport) {
				utWithRegistry(tr)
				tr.Limits.MaxMessageBytes = 64
			})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := utPeerRequest(method, RaftPrefix, tt.body(t))
			for k, v := range tt.header {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			rec := utServe(m.tr.Handler(), req)
			utCheckReply(t, rec, tt.code, tt.reply)
			if tt.code == http.StatusMethodNotAllowed {
				if got := rec.Header().Get(hdrAllow); got != "POST" {
					t.Errorf("Allow = %q, want POST", got)
				}
				if got := rec.Header().Get(hdrClusterID); got != "" {
					t.Errorf("a 405 carries X-Etcd-Cluster-ID %q", got)
				}
			} else if got := rec.Header().Get(hdrClusterID); got != "c1" {
				t.Errorf("X-Etcd-Cluster-ID = %q, want c1", got)
			}
			if tt.code == http.StatusBadRequest || tt.code == http.StatusRequestEntityTooLarge {
				from := tt.failureFrom
				if from == "" {
					from = "2"
				}
				if got := utMetricValue(t, utGatherer(t, m), "etcd_network_peer_received_failures_total", map[string]string{"From": from}); got != 1 {
					t.Errorf("peer_received_failures_total{From=%s} = %v, want 1", from, got)
				}
			}
			select {
			case got := <-m.raft.recvc:
				t.Errorf("a rejected request reached Process: %v", got)
			default:
			}
		})
	}
}

func TestPipelineHandlerProcessErrors(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		code  int
		reply string
	}{
		{name: "WriteTo without result", err: utWriteToError{code: http.StatusForbidden}, code: http.StatusForbidden},
		{name: "WriteTo with result", err: utWriteToResultError{code: http.StatusForbidden}, code: http.StatusForbidden, reply: "from the error\n"},
		{name: "wrapped WriteTo", err: errors.Join(errors.New("ctx"), utWriteToError{code: http.StatusTeapot}), code: http.StatusTeapot},
		{name: "plain error", err: errors.New("raft is busy"), code: http.StatusInternalServerError, reply: "error processing raft message\n"},
		{name: "success", code: http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMember(t, 1, nil)
			m.raft.err = tt.err
			sent := msg(raftpb.MsgApp, 2, 1, 5)
			rec := utServe(m.tr.Handler(), utPeerRequest(http.MethodPost, RaftPrefix, bytes.NewReader(utMarshal(t, sent))))
			utCheckReply(t, rec, tt.code, tt.reply)
			if got := rec.Header().Get(hdrClusterID); got != "c1" {
				t.Errorf("X-Etcd-Cluster-ID = %q, want c1", got)
			}
			got := m.raft.receive(t)
			if !proto.Equal(got, sent) {
				t.Errorf("Process got %v, want %v", got, sent)
			}
		})
	}
}

func TestPipelineHandlerAcceptsAndCounts(t *testing.T) {
	m := startMember(t, 1, utWithRegistry)
	sent := msg(raftpb.MsgHeartbeat, 2, 1, 9)
	body := utMarshal(t, sent)
	rec := utServe(m.tr.Handler(), utPeerRequest(http.MethodPost, RaftPrefix, bytes.NewReader(body)))
	utCheckReply(t, rec, http.StatusNoContent, "")
	if rec.Body.Len() != 0 {
		t.Errorf("204 with body %q", rec.Body.String())
	}
	if got := m.raft.receive(t); !proto.Equal(got, sent) {
		t.Errorf("Process got %v, want %v", got, sent)
	}
	if got := utMetricValue(t, utGatherer(t, m), "etcd_network_peer_received_bytes_total", map[string]string{"From": "2"}); got != float64(len(body)) {
		t.Errorf("peer_received_bytes_total{From=2} = %v, want %d", got, len(body))
	}

	// An empty body is an empty message, as in etcd.
	rec = utServe(m.tr.Handler(), utPeerRequest(http.MethodPost, RaftPrefix, http.NoBody))
	utCheckReply(t, rec, http.StatusNoContent, "")
}

func TestPipelineHandlerLearnsRemote(t *testing.T) {
	tests := []struct {
		name       string
		from, urls string
		want       bool
	}{
		{name: "from and URLs", from: "5", urls: "http://127.0.0.1:1,http://127.0.0.1:2", want: true},
		{name: "no URLs", from: "5"},
		{name: "bad from", from: "zz", urls: "http://127.0.0.1:1"},
		{name: "invalid URLs", from: "5", urls: "ftp://x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMember(t, 1, nil)
			req := utPeerRequest(http.MethodPost, RaftPrefix, bytes.NewReader(utMarshal(t, msg(raftpb.MsgHeartbeat, 5, 1, 1))))
			req.Header.Set(hdrServerFrom, tt.from)
			if tt.urls != "" {
				req.Header.Set(hdrPeerURLs, tt.urls)
			}
			utCheckReply(t, utServe(m.tr.Handler(), req), http.StatusNoContent, "")
			if got := utHasRemote(m.tr, 5); got != tt.want {
				t.Errorf("remote 5 known = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStreamHandlerRejects(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		code   int
		reply  string
	}{
		{name: "POST", method: http.MethodPost, path: "/raft/stream/message/2", code: 405, reply: "Method Not Allowed\n"},
		{name: "PUT", method: http.MethodPut, path: "/raft/stream/message/2", code: 405, reply: "Method Not Allowed\n"},
		{name: "DELETE", method: http.MethodDelete, path: "/raft/stream/msgapp/2", code: 405, reply: "Method Not Allowed\n"},
		{name: "incompatible version", path: "/raft/stream/message/2", header: map[string]string{hdrServerVersion: "2.0.0"}, code: 412, reply: "incompatible version\n"},
		{name: "garbage version", path: "/raft/stream/message/2", header: map[string]string{hdrServerVersion: "not-a-version"}, code: 412, reply: "incompatible version\n"},
		{name: "cluster mismatch", path: "/raft/stream/message/2", header: map[string]string{hdrClusterID: "abc"}, code: 412, reply: "cluster ID mismatch\n"},
		{name: "strange type", path: "/raft/stream/strange/2", code: 404, reply: "invalid path\n"},
		{name: "no ID", path: "/raft/stream/strange", code: 404, reply: "invalid path\n"},
		{name: "msgappv2 spelled out", path: "/raft/stream/msgappv2/2", code: 404, reply: "invalid path\n"},
		{name: "extra segment", path: "/raft/stream/message/2/extra", code: 404, reply: "invalid path\n"},
		{name: "bad from", path: "/raft/stream/message/xyz", code: 404, reply: "invalid from\n"},
		{name: "removed member", path: "/raft/stream/message/7", code: 410, reply: "removed member\n"},
		{name: "unknown member", path: "/raft/stream/message/3", code: 404, reply: "error sender not found\n"},
		{name: "to mismatch", path: "/raft/stream/msgapp/2", header: map[string]string{hdrRaftTo: "5"}, code: 412, reply: "to field mismatch\n"},
		{name: "to missing", path: "/raft/stream/message/2", header: map[string]string{hdrRaftTo: ""}, code: 412, reply: "to field mismatch\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMember(t, 1, nil)
			m.raft.removedID = 7
			m.tr.AddPeer(2, []string{"http://127.0.0.1:1"})
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req := utPeerRequest(method, tt.path, nil)
			req.Header.Set(hdrRaftTo, "1")
			for k, v := range tt.header {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			rec := utServe(m.tr.Handler(), req)
			utCheckReply(t, rec, tt.code, tt.reply)
			wantVersion := defaultServerVersion
			if tt.code == http.StatusMethodNotAllowed {
				wantVersion = ""
				if got := rec.Header().Get(hdrAllow); got != "GET" {
					t.Errorf("Allow = %q, want GET", got)
				}
			}
			if got := rec.Header().Get(hdrServerVersion); got != wantVersion {
				t.Errorf("X-Server-Version = %q, want %q", got, wantVersion)
			}
			p := m.tr.Get(2).(*peer)
			if p.writer.isWorking() || p.msgAppV2Writer.isWorking() {
				t.Error("a rejected stream request attached a connection")
			}
		})
	}
}

func TestStreamHandlerUnknownSenderBecomesRemote(t *testing.T) {
	m := startMember(t, 1, nil)
	req := utPeerRequest(http.MethodGet, "/raft/stream/message/3", nil)
	req.Header.Set(hdrRaftTo, "1")
	req.Header.Set(hdrPeerURLs, "http://127.0.0.1:1")
	utCheckReply(t, utServe(m.tr.Handler(), req), http.StatusNotFound, "error sender not found\n")
	if !utHasRemote(m.tr, 3) {
		t.Error("the unknown sender was not learned as a remote")
	}
	if m.tr.Get(3) != nil {
		t.Error("the unknown sender became a peer")
	}
}

func TestStreamHandlerAttachesToWriterOfItsType(t *testing.T) {
	tests := []struct {
		name, path   string
		wantMsgAppV2 bool
	}{
		{"msgapp path feeds the msgappv2 writer", "/raft/stream/msgapp/2", true},
		{"message path feeds the message writer", "/raft/stream/message/2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startMember(t, 1, nil)
			m.tr.AddPeer(2, []string{"http://127.0.0.1:1"})
			p := m.tr.Get(2).(*peer)

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
			t.Cleanup(func() { resp.Body.Close() })
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get(hdrServerVersion); got != defaultServerVersion {
				t.Errorf("X-Server-Version = %q, want %s", got, defaultServerVersion)
			}
			if got := resp.Header.Get(hdrClusterID); got != "c1" {
				t.Errorf("X-Etcd-Cluster-ID = %q, want c1", got)
			}
			if got := resp.Header.Get("Content-Type"); got != "" {
				t.Errorf("Content-Type = %q, want none", got)
			}
			want, other := p.writer, p.msgAppV2Writer
			if tt.wantMsgAppV2 {
				want, other = other, want
			}
			waitFor(t, 5*time.Second, "the writer to work", want.isWorking)
			if other.isWorking() {
				t.Error("the other writer works too")
			}
		})
	}
}

func TestSnapshotHandlerRejects(t *testing.T) {
	frame := func(t *testing.T, m *raftpb.Message, db string) io.Reader {
		b, err := appendMessageFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return io.MultiReader(bytes.NewReader(b), strings.NewReader(db))
	}
	snapMsg := func() *raftpb.Message {
		m := msg(raftpb.MsgSnap, 2, 1, 1)
		m.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(0x10), Term: proto.Uint64(1)}}
		return m
	}
	tooLong := make([]byte, 8)
	binary.BigEndian.PutUint64(tooLong, 64<<20+1)
	tests := []struct {
		name          string
		method        string
		header        map[string]string
		body          func(t *testing.T) io.Reader
		noSnapshotter bool
		processErr    error
		code          int
		reply         string
		failureLabel  string
	}{
		{name: "GET", method: http.MethodGet, code: 405, reply: "Method Not Allowed\n", failureLabel: unknownSnapshotSender},
		{name: "PUT", method: http.MethodPut, code: 405, reply: "Method Not Allowed\n", failureLabel: unknownSnapshotSender},
		{name: "incompatible", header: map[string]string{hdrServerVersion: "1.0.0"}, code: 412, reply: "incompatible version\n", failureLabel: unknownSnapshotSender},
		{name: "cluster mismatch", header: map[string]string{hdrClusterID: "1"}, code: 412, reply: "cluster ID mismatch\n", failureLabel: unknownSnapshotSender},
		{name: "envelope over the limit", body: func(*testing.T) io.Reader { return bytes.NewReader(tooLong) },
			code: 400, reply: "failed to decode raft message (rafthttp: error limit exceeded)\n", failureLabel: "0"},
		{name: "truncated envelope", body: func(*testing.T) io.Reader { return bytes.NewReader([]byte{0, 0, 0}) },
			code: 400, reply: "failed to decode raft message (unexpected EOF)\n", failureLabel: "0"},
		{name: "wrong type", body: func(t *testing.T) io.Reader { return frame(t, msg(raftpb.MsgApp, 2, 1, 1), "db") },
			code: 400, reply: "wrong raft message type\n", failureLabel: "2"},
		{name: "no snapshotter", noSnapshotter: true, body: func(t *testing.T) io.Reader { return frame(t, snapMsg(), "db") },
			code: 500, failureLabel: "2"},
		{name: "DB read fails", body: func(t *testing.T) io.Reader {
			return io.MultiReader(frame(t, snapMsg(), "partial"), utErrReader{errors.New("connection reset")})
		}, code: 500, failureLabel: "2"},
		{name: "process error", processErr: errors.New("no"), body: func(t *testing.T) io.Reader { return frame(t, snapMsg(), "db") },
			code: 500, reply: "failed to process raft message (no)\n", failureLabel: "2"},
		{name: "process error writes reply", processErr: utWriteToError{code: http.StatusForbidden},
			body: func(t *testing.T) io.Reader { return frame(t, snapMsg(), "db") }, code: 403, failureLabel: "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := startMember(t, 1, func(tr *Transport) {
				utWithRegistry(tr)
				if !tt.noSnapshotter {
					tr.Snapshotter = utSnapshotter(dir)
				}
			})
			m.raft.err = tt.processErr
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			var body io.Reader = http.NoBody
			if tt.body != nil {
				body = tt.body(t)
			}
			req := utPeerRequest(method, RaftSnapshotPrefix, body)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := utServe(m.tr.Handler(), req)
			utCheckReply(t, rec, tt.code, tt.reply)
			g := utGatherer(t, m)
			if got := utMetricValue(t, g, "etcd_network_snapshot_receive_failures", map[string]string{"From": tt.failureLabel}); got != 1 {
				t.Errorf("snapshot_receive_failures{From=%s} = %v, want 1", tt.failureLabel, got)
			}
			if got := utMetricValue(t, g, "etcd_network_snapshot_receive_success", map[string]string{"From": "2"}); got != 0 {
				t.Errorf("snapshot_receive_success = %v on a failure", got)
			}
			if tt.processErr == nil {
				if files := utDirFiles(t, dir); len(files) != 0 {
					t.Errorf("files left in the snapshot dir: %v", files)
				}
			}
		})
	}
}

func TestSnapshotHandlerSavesAndProcesses(t *testing.T) {
	dir := t.TempDir()
	m := startMember(t, 1, func(tr *Transport) {
		utWithRegistry(tr)
		tr.Snapshotter = utSnapshotter(dir)
	})
	sent := msg(raftpb.MsgSnap, 2, 1, 3)
	sent.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(0xabc), Term: proto.Uint64(3)}}
	db := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	envelope, err := appendMessageFrame(nil, sent)
	if err != nil {
		t.Fatal(err)
	}
	req := utPeerRequest(http.MethodPost, RaftSnapshotPrefix, io.MultiReader(bytes.NewReader(envelope), bytes.NewReader(db)))
	rec := utServe(m.tr.Handler(), req)
	utCheckReply(t, rec, http.StatusNoContent, "")
	if got := rec.Header().Get(hdrClusterID); got != "c1" {
		t.Errorf("X-Etcd-Cluster-ID = %q, want c1", got)
	}
	utCheckSavedDB(t, dir, 0xabc, db)
	if got := m.raft.receive(t); !proto.Equal(got, sent) {
		t.Errorf("Process got %v, want %v", got, sent)
	}
	g := utGatherer(t, m)
	from2 := map[string]string{"From": "2"}
	if got := utMetricValue(t, g, "etcd_network_snapshot_receive_success", from2); got != 1 {
		t.Errorf("snapshot_receive_success = %v, want 1", got)
	}
	if got := utMetricValue(t, g, "etcd_network_snapshot_receive_total_duration_seconds", from2); got != 1 {
		t.Errorf("snapshot_receive_total_duration_seconds has %v samples, want 1", got)
	}
	if got := utMetricValue(t, g, "etcd_network_snapshot_receive_inflights_total", from2); got != 0 {
		t.Errorf("snapshot_receive_inflights_total = %v after the request, want 0", got)
	}
	wantBytes := float64(proto.Size(sent) + len(db))
	if got := utMetricValue(t, g, "etcd_network_peer_received_bytes_total", from2); got != wantBytes {
		t.Errorf("peer_received_bytes_total = %v, want %v", got, wantBytes)
	}
}

func TestSnapshotHandlerClientAbortLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	m := startMember(t, 1, func(tr *Transport) {
		utWithRegistry(tr)
		tr.Snapshotter = utSnapshotter(dir)
	})
	sent := msg(raftpb.MsgSnap, 2, 1, 3)
	sent.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(5), Term: proto.Uint64(3)}}
	envelope, err := appendMessageFrame(nil, sent)
	if err != nil {
		t.Fatal(err)
	}
	// A sender that dies mid-upload: a chunked body that never ends.
	partial := append(envelope, bytes.Repeat([]byte{'d'}, 1000)...)
	conn := utDial(t, m.srv.Listener.Addr().String())
	hdr := utPeerRequest(http.MethodPost, "/", nil).Header
	var raw bytes.Buffer
	raw.WriteString("POST /raft/snapshot HTTP/1.1\r\nHost: member1\r\nTransfer-Encoding: chunked\r\n")
	_ = hdr.Write(&raw)
	raw.WriteString("\r\n")
	raw.WriteString(fmt.Sprintf("%x\r\n", len(partial)))
	raw.Write(partial)
	raw.WriteString("\r\n")
	if _, err := conn.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	waitFor(t, 5*time.Second, "the receiver to give up", func() bool {
		return utMetricValue(t, utGatherer(t, m), "etcd_network_snapshot_receive_failures", map[string]string{"From": "2"}) == 1
	})
	if files := utDirFiles(t, dir); len(files) != 0 {
		t.Errorf("files left after an aborted upload: %v", files)
	}
	select {
	case got := <-m.raft.recvc:
		t.Errorf("an aborted snapshot reached Process: %v", got)
	default:
	}
}

func TestHandlerOtherPaths(t *testing.T) {
	m := startMember(t, 1, nil)
	h := m.tr.Handler()

	rec := utServe(h, httptest.NewRequest(http.MethodGet, ProbingPrefix, nil))
	utCheckReply(t, rec, http.StatusOK, "")
	var health struct {
		OK  bool
		Now time.Time
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &health); err != nil {
		t.Fatalf("probing reply %q: %v", rec.Body.String(), err)
	}
	if !health.OK || health.Now.IsZero() {
		t.Errorf("probing reply = %+v, want OK with a time", health)
	}
	if !strings.HasSuffix(rec.Body.String(), "}\n") {
		t.Errorf("probing reply %q does not end in a newline", rec.Body.String())
	}

	for _, path := range []string{"/raft/unknown", "/raft/snapshot/x", "/raft/probing/x"} {
		t.Run(path, func(t *testing.T) {
			utCheckReply(t, utServe(h, utPeerRequest(http.MethodPost, path, nil)), http.StatusNotFound, "404 page not found\n")
		})
	}
}

func TestHandlerUnavailableWhenNotRunning(t *testing.T) {
	requests := []struct {
		name, method, path string
	}{
		{"pipeline", http.MethodPost, RaftPrefix},
		{"stream", http.MethodGet, "/raft/stream/message/2"},
		{"snapshot", http.MethodPost, RaftSnapshotPrefix},
	}
	states := []struct {
		name string
		tr   func(t *testing.T) *Transport
	}{
		{"before Start", func(*testing.T) *Transport { return &Transport{ID: 1, ClusterID: 0xc1, Raft: newRecordingRaft()} }},
		{"after Stop", func(t *testing.T) *Transport {
			tr := &Transport{ID: 1, ClusterID: 0xc1, Raft: newRecordingRaft()}
			if err := tr.Start(); err != nil {
				t.Fatal(err)
			}
			tr.Stop()
			return tr
		}},
	}
	for _, st := range states {
		for _, rq := range requests {
			t.Run(st.name+"/"+rq.name, func(t *testing.T) {
				tr := st.tr(t)
				req := utPeerRequest(rq.method, rq.path, http.NoBody)
				req.Header.Set(hdrRaftTo, "1")
				utCheckReply(t, utServe(tr.Handler(), req), http.StatusServiceUnavailable, "stopped\n")
			})
		}
	}
}
