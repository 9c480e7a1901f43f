package interop

import (
	"bytes"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// largeEntrySize is above the 1 MiB scratch buffer both msgappv2 encoders
// use, so the entry is marshalled on the other branch.
const largeEntrySize = 3 << 19

// msgApp builds a MsgApp with the given position and entries.
func msgApp(from, to, term, logTerm, index, commit uint64, entries ...*raftpb.Entry) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MsgApp.Enum(), From: proto.Uint64(from), To: proto.Uint64(to),
		Term: proto.Uint64(term), LogTerm: proto.Uint64(logTerm), Index: proto.Uint64(index),
		Commit: proto.Uint64(commit), Entries: entries,
	}
}

// entry builds a normal entry; data may be nil.
func entry(term, index uint64, data []byte) *raftpb.Entry {
	return &raftpb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(index), Type: raftpb.EntryNormal.Enum(), Data: data}
}

// msgAppStep is one message of the MsgApp sequence and the record the
// msgappv2 encoder must produce for it.
type msgAppStep struct {
	name string
	m    *raftpb.Message
	want recordKind
}

// msgAppSequence is a leader's traffic to one follower on a fresh msgappv2
// connection. The encoder starts at term 0, index 0 (probes keep it there),
// so the first message must go out in full; after that a MsgApp whose Term
// and LogTerm equal the previous term and whose Index continues from the
// last entry sent takes the fast path.
func msgAppSequence(from, to uint64) []msgAppStep {
	large := bytes.Repeat([]byte{0xab}, largeEntrySize)
	confChange := &raftpb.Entry{Term: proto.Uint64(3), Index: proto.Uint64(14), Type: raftpb.EntryConfChange.Enum(), Data: []byte("cc")}
	return []msgAppStep{
		{"first_full", msgApp(from, to, 3, 3, 10, 9, entry(3, 11, []byte("a")), entry(3, 12, []byte("b"))), kindFullMsgApp},
		{"fast_three_entries", msgApp(from, to, 3, 3, 12, 12, entry(3, 13, []byte("c")), confChange, entry(3, 15, large)), kindAppEntries},
		{"fast_no_entries", msgApp(from, to, 3, 3, 15, 15), kindAppEntries},
		{"fast_one_entry", msgApp(from, to, 3, 3, 15, 15, entry(3, 16, nil)), kindAppEntries},
		{"logterm_differs", msgApp(from, to, 4, 3, 16, 16, entry(4, 17, []byte("new term"))), kindFullMsgApp},
		{"fast_after_new_term", msgApp(from, to, 4, 4, 17, 17, entry(4, 18, []byte("d"))), kindAppEntries},
		{"fast_empty_after_new_term", msgApp(from, to, 4, 4, 18, 18), kindAppEntries},
		{"index_backtracks", msgApp(from, to, 4, 4, 5, 18, entry(4, 6, []byte("e"))), kindFullMsgApp},
		{"full_empty", msgApp(from, to, 4, 4, 2, 18), kindFullMsgApp},
	}
}

// TestMsgAppV2FastPath sends a MsgApp sequence over msgappv2 both ways. Each
// message must arrive with the same content, the stream must carry exactly
// the expected mix of full and fast-path records, and nothing may be
// POSTed to the pipeline.
func TestMsgAppV2FastPath(t *testing.T) {
	ours, etcd := startConnectedPair(t)
	for _, dir := range directions(ours, etcd) {
		t.Run(dir.name, func(t *testing.T) {
			steps := msgAppSequence(dir.from.id, dir.to.id)
			onWire := len(dir.from.tap.records(streamMsgAppV2, dir.to.id))
			for _, s := range steps {
				dir.from.tr.Send([]*raftpb.Message{s.m})
			}
			for _, s := range steps {
				got := dir.to.raft.receive(t, 10*time.Second)
				assertSameMsgApp(t, s.name, got, s.m)
			}
			recs := dir.from.tap.records(streamMsgAppV2, dir.to.id)[onWire:]
			if len(recs) != len(steps) {
				t.Fatalf("msgappv2 stream carried %d records, want %d", len(recs), len(steps))
			}
			for i, s := range steps {
				if recs[i].kind != s.want {
					t.Errorf("%s went out as %v, want %v", s.name, recs[i].kind, s.want)
				}
				if recs[i].kind == kindFullMsgApp && !proto.Equal(recs[i].msg, s.m) {
					t.Errorf("%s: full record %v, want %v", s.name, recs[i].msg, s.m)
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

// assertSameMsgApp compares two MsgApps field by field through getters.
// proto.Equal would be too strict: a fast-path record carries only entries
// and a commit index, and the receiver rebuilds Type, From, To, Term,
// LogTerm and Index from the connection, so those fields come back present
// even where the sender left them unset. Entries travel as their own
// protobuf bytes, so they must be proto.Equal.
func assertSameMsgApp(t *testing.T, name string, got, want *raftpb.Message) {
	t.Helper()
	type fields struct {
		Type                                   raftpb.MessageType
		From, To, Term, LogTerm, Index, Commit uint64
	}
	fieldsOf := func(m *raftpb.Message) fields {
		return fields{m.GetType(), m.GetFrom(), m.GetTo(), m.GetTerm(), m.GetLogTerm(), m.GetIndex(), m.GetCommit()}
	}
	if g, w := fieldsOf(got), fieldsOf(want); g != w {
		t.Errorf("%s: got %+v, want %+v", name, g, w)
	}
	if len(got.GetEntries()) != len(want.GetEntries()) {
		t.Fatalf("%s: got %d entries, want %d", name, len(got.GetEntries()), len(want.GetEntries()))
	}
	for i, e := range want.GetEntries() {
		if !proto.Equal(got.GetEntries()[i], e) {
			t.Errorf("%s: entry %d is %v, want %v", name, i, got.GetEntries()[i], e)
		}
	}
}
