package rafthttp

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestSendEveryTypeOverStreams(t *testing.T) {
	a := startMember(t, 1, nil)
	b := startMember(t, 2, nil)
	connect(t, a, b)

	app := msg(raftpb.MsgApp, 1, 2, 1)
	app.LogTerm, app.Index, app.Commit = proto.Uint64(1), proto.Uint64(3), proto.Uint64(3)
	app.Entries = []*raftpb.Entry{{Term: proto.Uint64(1), Index: proto.Uint64(4), Data: []byte("some data")}}
	snapMsg := msg(raftpb.MsgSnap, 1, 2, 1)
	snapMsg.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(100), Term: proto.Uint64(1)}}
	tests := []*raftpb.Message{
		msg(raftpb.MsgProp, 1, 2, 0),
		app,
		msg(raftpb.MsgAppResp, 1, 2, 1),
		msg(raftpb.MsgVote, 1, 2, 1),
		msg(raftpb.MsgVoteResp, 1, 2, 1),
		snapMsg,
		msg(raftpb.MsgHeartbeat, 1, 2, 1),
		msg(raftpb.MsgHeartbeatResp, 1, 2, 1),
	}
	for _, m := range tests {
		t.Run(m.GetType().String(), func(t *testing.T) {
			a.tr.Send([]*raftpb.Message{m})
			got := b.raft.receive(t)
			if !proto.Equal(got, m) {
				t.Fatalf("received %v, want %v", got, m)
			}
		})
	}
}
