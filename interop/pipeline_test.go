package interop

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// pipelineMessages are the messages sent while streams are down: a sample
// of the message-stream types, MsgApp (which would take msgappv2), and a
// MsgSnap without DB bytes (which always takes the pipeline).
func pipelineMessages(from, to uint64) []*raftpb.Message {
	var msgs []*raftpb.Message
	for _, typ := range []raftpb.MessageType{
		raftpb.MsgProp, raftpb.MsgVote, raftpb.MsgPreVoteResp, raftpb.MsgHeartbeat,
		raftpb.MsgAppResp, raftpb.MsgReadIndex, raftpb.MsgTimeoutNow,
	} {
		msgs = append(msgs, richMessage(typ, from, to))
	}
	msgs = append(msgs, msgApp(from, to, 3, 3, 10, 9, entry(3, 11, []byte("a"))))
	msgs = append(msgs, msgApp(from, to, 3, 3, 11, 11))
	snap := richMessage(raftpb.MsgSnap, from, to)
	snap.Entries, snap.Responses = nil, nil
	return append(msgs, snap)
}

// TestPipelineBeforeStreams refuses every stream request from the start,
// so messages can only travel by POST /raft; each must arrive unchanged,
// one POST each, both ways.
func TestPipelineBeforeStreams(t *testing.T) {
	cfg := sideConfig{clusterID: clusterID, blockStreams: true}
	ours, etcd := startPair(t, cfg, cfg)
	connect(ours, etcd)
	for _, dir := range directions(ours, etcd) {
		t.Run(dir.name, func(t *testing.T) {
			sendOverPipeline(t, dir)
		})
	}
	for _, s := range []*side{ours, etcd} {
		peer := ours.id + etcd.id - s.id
		for _, kind := range []streamKind{streamMessage, streamMsgAppV2} {
			if got := s.tap.streamResponses(kind, peer, http.StatusOK); len(got) != 0 {
				t.Errorf("%s accepted %d %v streams though they were refused", s.name, len(got), kind)
			}
		}
	}
}

// TestPipelineWithStreamsCut brings all streams up, then cuts them (the
// servers drop every connection and refuse new stream requests). After
// the writers notice, messages must fall back to POST /raft and arrive.
func TestPipelineWithStreamsCut(t *testing.T) {
	ours, etcd := startConnectedPair(t)
	for _, s := range []*side{ours, etcd} {
		s.tap.blockStreams.Store(true)
	}
	for _, s := range []*side{ours, etcd} {
		s.srv.CloseClientConnections()
	}
	for _, dir := range directions(ours, etcd) {
		t.Run(dir.name, func(t *testing.T) {
			waitPipeline(t, dir)
			sendOverPipeline(t, dir)
		})
	}
}

// waitPipeline waits until both of dir.from's stream writers have given up
// their cut connections. A writer notices a dead connection only when a
// write fails, and a write into a buffered response may fail only on the
// next one, so probes of both kinds are sent until each is seen to arrive
// by POST. Probes lost on the dead streams are reported unreachable, as
// they should be.
func waitPipeline(t *testing.T, dir direction) {
	t.Helper()
	for _, kind := range []streamKind{streamMessage, streamMsgAppV2} {
		what := fmt.Sprintf("%v probes %s→%s to take the pipeline", probeTypes[kind], dir.from.name, dir.to.name)
		waitFor(t, 15*time.Second, what, func() bool {
			m, seq := newProbe(probeTypes[kind], dir.from.id, dir.to.id)
			dir.from.tr.Send([]*raftpb.Message{m})
			return dir.to.raft.awaitProbe(seq, 300*time.Millisecond) && dir.to.tap.posted(m)
		})
	}
}

// sendOverPipeline sends pipelineMessages one at a time and checks that each
// arrives unchanged, carried by exactly one POST /raft answered 204, and
// that the MsgSnap is reported finished to the sender's raft.
func sendOverPipeline(t *testing.T, dir direction) {
	t.Helper()
	for _, m := range pipelineMessages(dir.from.id, dir.to.id) {
		dir.from.tr.Send([]*raftpb.Message{m})
		got := dir.to.raft.receive(t, 5*time.Second)
		if !proto.Equal(got, m) {
			t.Fatalf("%s processed\n%v\nwant\n%v", dir.to.name, got, m)
		}
		if post := awaitPost(t, dir.to.tap, m); post.status != http.StatusNoContent {
			t.Fatalf("POST carrying %v answered %d, want 204", m.GetType(), post.status)
		}
		if m.GetType() == raftpb.MsgSnap {
			rep := dir.from.raft.awaitSnapReport(t, 5*time.Second)
			if rep != (snapReport{id: dir.to.id, status: raft.SnapshotFinish}) {
				t.Errorf("%s reported %+v for a MsgSnap sent by pipeline, want Finish", dir.from.name, rep)
			}
		}
	}
}
