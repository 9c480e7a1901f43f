package interop

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// messageVariant builds one shape of message of a given type.
type messageVariant struct {
	name  string
	build func(typ raftpb.MessageType, from, to uint64) *raftpb.Message
}

// messageVariants cover field presence, which proto2 carries on the wire
// and proto.Equal checks: only the addressing fields; every scalar present
// but zero (as gogoproto-era etcd wrote them); and every field filled in.
var messageVariants = []messageVariant{
	{name: "minimal", build: func(typ raftpb.MessageType, from, to uint64) *raftpb.Message {
		return &raftpb.Message{Type: typ.Enum(), From: proto.Uint64(from), To: proto.Uint64(to)}
	}},
	{name: "zeroes", build: func(typ raftpb.MessageType, from, to uint64) *raftpb.Message {
		z := proto.Uint64(0)
		return &raftpb.Message{
			Type: typ.Enum(), From: proto.Uint64(from), To: proto.Uint64(to),
			Term: z, LogTerm: z, Index: z, Commit: z, Vote: z, Reject: proto.Bool(false),
			RejectHint: z, Context: []byte{},
		}
	}},
	{name: "rich", build: richMessage},
}

// richMessage fills every field of Message, including nested entries, a
// snapshot and responses.
func richMessage(typ raftpb.MessageType, from, to uint64) *raftpb.Message {
	return &raftpb.Message{
		Type: typ.Enum(), From: proto.Uint64(from), To: proto.Uint64(to),
		Term: proto.Uint64(7), LogTerm: proto.Uint64(6), Index: proto.Uint64(41),
		Commit: proto.Uint64(40), Vote: proto.Uint64(from),
		Reject: proto.Bool(true), RejectHint: proto.Uint64(39),
		Context: []byte("ctx-" + typ.String()),
		Entries: []*raftpb.Entry{
			{Term: proto.Uint64(7), Index: proto.Uint64(42), Type: raftpb.EntryNormal.Enum(), Data: []byte("put k v")},
			{Term: proto.Uint64(7), Index: proto.Uint64(43), Type: raftpb.EntryConfChangeV2.Enum()},
			{},
		},
		Snapshot: &raftpb.Snapshot{
			Data: []byte("snapshot data"),
			Metadata: &raftpb.SnapshotMetadata{
				Index: proto.Uint64(30), Term: proto.Uint64(5),
				ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}},
			},
		},
		Responses: []*raftpb.Message{{Type: raftpb.MsgAppResp.Enum(), To: proto.Uint64(from), Index: proto.Uint64(43)}},
	}
}

// messageStreamTypes returns every message type except MsgApp (which takes
// msgappv2) and MsgSnap (which always takes the pipeline), in value order.
func messageStreamTypes() []raftpb.MessageType {
	var types []raftpb.MessageType
	for v := range raftpb.MessageType_name {
		typ := raftpb.MessageType(v)
		if typ != raftpb.MsgApp && typ != raftpb.MsgSnap {
			types = append(types, typ)
		}
	}
	slices.Sort(types)
	return types
}

// TestMessageStreamEveryType sends every message type in every variant over
// the message stream, both ways, and checks each arrives unchanged and was
// written to the stream rather than POSTed.
func TestMessageStreamEveryType(t *testing.T) {
	ours, etcd := startConnectedPair(t)
	for _, dir := range directions(ours, etcd) {
		t.Run(dir.name, func(t *testing.T) {
			for _, typ := range messageStreamTypes() {
				for _, v := range messageVariants {
					t.Run(fmt.Sprintf("%v/%s", typ, v.name), func(t *testing.T) {
						sendOverMessageStream(t, dir, v.build(typ, dir.from.id, dir.to.id))
					})
				}
			}
			if posted := dir.to.tap.postedMessages(); len(posted) != 0 {
				t.Errorf("%s received %d messages by POST while streams were up: %v", dir.to.name, len(posted), posted)
			}
			if err := dir.from.tap.parseError(); err != nil {
				t.Errorf("decoding %s's streams: %v", dir.from.name, err)
			}
		})
	}
}

// sendOverMessageStream sends m from dir.from and checks that dir.to's raft
// gets an equal message and that the same message was written as a frame
// on the message stream.
func sendOverMessageStream(t *testing.T, dir direction, m *raftpb.Message) {
	t.Helper()
	onWire := len(dir.from.tap.records(streamMessage, dir.to.id))
	dir.from.tr.Send([]*raftpb.Message{m})
	got := dir.to.raft.receive(t, 5*time.Second)
	if !proto.Equal(got, m) {
		t.Fatalf("%s processed\n%v\nwant\n%v", dir.to.name, got, m)
	}
	recs := dir.from.tap.records(streamMessage, dir.to.id)[onWire:]
	if len(recs) != 1 || recs[0].kind != kindFrame || !proto.Equal(recs[0].msg, m) {
		t.Fatalf("message stream carried %d records %v, want exactly the message", len(recs), recs)
	}
}
