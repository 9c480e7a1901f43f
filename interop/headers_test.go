package interop

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// checkRequestHeaders checks the protocol headers sender put on a request
// to receiver. contentType is "" for stream dials, which alone carry
// X-Raft-To. Both implementations must announce the etcd release under
// test: etcd its own, ours its default, which follows the newest patch
// release (a bump of interop/go.mod without one of the default fails here).
func checkRequestHeaders(t *testing.T, h http.Header, sender, receiver *side, contentType string) {
	t.Helper()
	want := map[string]string{
		"X-Server-From":         hexID(sender.id),
		"X-Server-Version":      version.Version,
		"X-Min-Cluster-Version": "3.0.0",
		"X-Etcd-Cluster-Id":     hexID(sender.cluster),
		"X-Peerurls":            sender.srv.URL,
		"X-Raft-To":             "",
		"Content-Type":          contentType,
	}
	if contentType == "" {
		want["X-Raft-To"] = hexID(receiver.id)
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s sent %s: %q, want %q", sender.name, k, got, v)
		}
	}
}

// checkResponseHeaders checks that the handler set exactly the headers in
// want, with those values.
func checkResponseHeaders(t *testing.T, what string, h http.Header, want map[string]string) {
	t.Helper()
	got := make(map[string]string)
	for k := range h {
		got[k] = h.Get(k)
	}
	if !maps.Equal(got, want) {
		t.Errorf("%s response headers %v, want %v", what, got, want)
	}
}

// lastRecord returns the newest record matching keep, failing if none.
func lastRecord(t *testing.T, tp *tap, what string, keep func(*requestRecord) bool) requestRecord {
	t.Helper()
	recs := tp.matching(keep)
	if len(recs) == 0 {
		t.Fatalf("no %s recorded", what)
	}
	return recs[len(recs)-1]
}

// TestWireHeaders checks, both ways, the headers and body framing of the
// three kinds of request a member sends (stream dial, pipeline POST,
// snapshot POST) and the headers of the successful replies, against the
// protocol: streams answer with X-Server-Version and the cluster ID and no
// Content-Type; POSTs carry Content-Length (pipeline) or are chunked
// (snapshot) and are answered 204 with only the cluster ID.
func TestWireHeaders(t *testing.T) {
	ours, etcd := startConnectedPair(t)
	for i, dir := range directions(ours, etcd) {
		t.Run(dir.name, func(t *testing.T) {
			from, to := dir.from, dir.to
			for _, kind := range []streamKind{streamMessage, streamMsgAppV2} {
				recs := from.tap.streamResponses(kind, to.id, http.StatusOK)
				if len(recs) == 0 {
					t.Fatalf("no accepted %v stream", kind)
				}
				checkRequestHeaders(t, recs[0].header, to, from, "")
				checkResponseHeaders(t, from.name+" "+kind.String()+" stream", recs[0].respHeader,
					map[string]string{"X-Server-Version": version.Version, "X-Etcd-Cluster-Id": hexID(from.cluster)})
			}

			// A MsgSnap given to Send always takes the pipeline.
			m := snapMessage(from.id, to.id, uint64(100+i))
			from.tr.Send([]*raftpb.Message{m})
			if got := to.raft.receive(t, 5*time.Second); !proto.Equal(got, m) {
				t.Fatalf("%s processed %v, want %v", to.name, got, m)
			}
			from.raft.awaitSnapReport(t, 5*time.Second)
			post := awaitPost(t, to.tap, m)
			if post.status != http.StatusNoContent {
				t.Errorf("pipeline POST answered %d, want 204", post.status)
			}
			checkRequestHeaders(t, post.header, from, to, "application/protobuf")
			if post.contentLength != int64(len(post.reqBody)) || len(post.transferEncoding) != 0 {
				t.Errorf("pipeline POST framing: Content-Length %d, Transfer-Encoding %v; want %d, none",
					post.contentLength, post.transferEncoding, len(post.reqBody))
			}
			checkResponseHeaders(t, to.name+" pipeline", post.respHeader,
				map[string]string{"X-Etcd-Cluster-Id": hexID(to.cluster)})

			db := bytes.Repeat([]byte("db"), 512)
			sm := snapMessage(from.id, to.id, uint64(200+i))
			if ok := <-from.tr.sendSnapshot(sm, io.NopCloser(bytes.NewReader(db)), int64(len(db))); !ok {
				t.Fatal("snapshot send failed")
			}
			to.raft.receive(t, 5*time.Second)
			from.raft.awaitSnapReport(t, 5*time.Second)
			snap := lastRecord(t, to.tap, "snapshot POST", func(r *requestRecord) bool {
				return r.method == http.MethodPost && r.path == pathSnapshot
			})
			checkRequestHeaders(t, snap.header, from, to, "application/octet-stream")
			if snap.contentLength != -1 || !slices.Equal(snap.transferEncoding, []string{"chunked"}) {
				t.Errorf("snapshot POST framing: Content-Length %d, Transfer-Encoding %v; want chunked",
					snap.contentLength, snap.transferEncoding)
			}
			checkResponseHeaders(t, to.name+" snapshot", snap.respHeader,
				map[string]string{"X-Etcd-Cluster-Id": hexID(to.cluster)})
		})
	}
}

// decodesTo reports whether b is a protobuf encoding of m.
func decodesTo(b []byte, m *raftpb.Message) bool {
	got := &raftpb.Message{}
	return proto.Unmarshal(b, got) == nil && proto.Equal(got, m)
}

// awaitPost waits until the tap has answered a pipeline POST carrying m and
// returns it. It fails if more than one POST carried m.
func awaitPost(t *testing.T, tp *tap, m *raftpb.Message) requestRecord {
	t.Helper()
	var recs []requestRecord
	waitFor(t, 5*time.Second, "a POST carrying "+m.GetType().String()+" to be answered", func() bool {
		recs = tp.matching(func(r *requestRecord) bool {
			return r.method == http.MethodPost && r.path == pathPipeline && r.status != 0 && decodesTo(r.reqBody, m)
		})
		return len(recs) > 0
	})
	if len(recs) != 1 {
		t.Fatalf("%d POSTs carried the same %v", len(recs), m.GetType())
	}
	return recs[0]
}
