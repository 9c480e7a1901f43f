package rafthttp_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/types"
)

// printingRaft hands every message it receives to a channel.
type printingRaft struct{ got chan *raftpb.Message }

func (r printingRaft) Process(_ context.Context, m *raftpb.Message) error {
	r.got <- m
	return nil
}
func (printingRaft) IsIDRemoved(uint64) bool                    { return false }
func (printingRaft) ReportUnreachable(uint64)                   {}
func (printingRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {}

// Two members on loopback: member 1 sends a heartbeat to member 2.
func Example() {
	start := func(id types.ID, r rafthttp.Raft) (*rafthttp.Transport, *httptest.Server) {
		tr := &rafthttp.Transport{ID: id, ClusterID: 0x1000, Raft: r}
		_ = tr.Start() // errors only on a missing Raft or bad versions
		return tr, httptest.NewServer(tr.Handler())
	}
	received := printingRaft{got: make(chan *raftpb.Message, 1)}
	tr1, srv1 := start(1, printingRaft{got: make(chan *raftpb.Message, 1)})
	tr2, srv2 := start(2, received)
	defer func() {
		tr1.Stop()
		tr2.Stop()
		srv1.Close()
		srv2.Close()
	}()
	tr1.AddPeer(2, []string{srv2.URL})
	tr2.AddPeer(1, []string{srv1.URL})

	hb := raftpb.MsgHeartbeat
	tr1.Send([]*raftpb.Message{{Type: &hb, From: proto.Uint64(1), To: proto.Uint64(2), Term: proto.Uint64(1)}})
	m := <-received.got
	fmt.Printf("member %x got %v for term %d\n", m.GetTo(), m.GetType(), m.GetTerm())
	// Output: member 2 got MsgHeartbeat for term 1
}
