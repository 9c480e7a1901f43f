package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/types"
)

func TestStreamCheckReplies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		reached bool
		code    string
	}{
		{"member check", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "error sender not found", http.StatusNotFound)
		}, true, ""},
		{"incompatible", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "incompatible version", http.StatusPreconditionFailed)
		}, false, CodeVersion},
		{"removed", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "removed member", http.StatusGone)
		}, false, CodeStreamRejected},
		{"not a peer", http.NotFound, false, CodeNotAPeer},
		{"accepted", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done() // a stream never ends by itself
		}, false, CodeStreamRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := streamCheck(context.Background(), testClient(t, srv.URL), streamMsgApp, streamHeaders(DefaultFromID, "", "c1", "3.4.23"))
			if c.ReachedMemberCheck != tc.reached {
				t.Fatalf("check %+v, reached member check = %v, want %v", c, c.ReachedMemberCheck, tc.reached)
			}
			v, found := streamVerdict([]StreamCheck{c})
			if found != (tc.code != "") || v.Code != tc.code {
				t.Fatalf("verdict %+v (found %v), want %q", v, found, tc.code)
			}
		})
	}
}

// TestStreamProbeAgainstTransport walks the handshake against our own
// Transport: the cluster ID comes from the 412 of a request without one,
// then both stream types stop at the member check.
func TestStreamProbeAgainstTransport(t *testing.T) {
	tr := &rafthttp.Transport{ID: 7, ClusterID: 0xabc, Raft: nopRaft{t}, Logger: zap.NewNop(), ServerVersion: "3.6.2"}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tr.Handler())
	defer func() { srv.Close(); tr.Stop() }()
	pc := testClient(t, srv.URL)
	cid, server, err := learnClusterID(context.Background(), pc, DefaultFromID)
	if err != nil || cid != "abc" || server != "3.6.2" {
		t.Fatalf("learned cluster %q server %q (%v)", cid, server, err)
	}
	for _, typ := range []string{streamMessage, streamMsgApp} {
		c := streamCheck(context.Background(), pc, typ, streamHeaders(DefaultFromID, "7", cid, server))
		if !c.ReachedMemberCheck || c.ServerVersion != "3.6.2" {
			t.Fatalf("%s: %+v", typ, c)
		}
	}
	if tr.Get(types.ID(DefaultFromID)) != nil || tr.ActivePeers() != 0 {
		t.Fatal("the probe left a peer behind")
	}
}

// nopRaft fails the test if the doctor ever delivers a raft message.
type nopRaft struct{ t *testing.T }

func (r nopRaft) Process(context.Context, *raftpb.Message) error {
	r.t.Error("a raft message was delivered")
	return nil
}
func (nopRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {}
func (nopRaft) ReportUnreachable(uint64)                   {}
func (nopRaft) IsIDRemoved(uint64) bool                    { return false }
