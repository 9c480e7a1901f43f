package rafthttp

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// randomMessage builds a message with a random subset of fields set, so
// presence (a field set to zero versus unset) is exercised too.
func randomMessage(r *rand.Rand) *raftpb.Message {
	opt := func() *uint64 {
		if r.IntN(3) == 0 {
			return nil
		}
		return proto.Uint64(r.Uint64() >> r.UintN(64))
	}
	m := &raftpb.Message{To: opt(), From: opt(), Term: opt(), LogTerm: opt(), Index: opt(),
		Commit: opt(), RejectHint: opt(), Vote: opt()}
	if r.IntN(4) > 0 {
		m.Type = raftpb.MessageType(r.IntN(24)).Enum()
	}
	if r.IntN(3) == 0 {
		m.Reject = proto.Bool(r.IntN(2) == 0)
	}
	if r.IntN(3) == 0 {
		m.Context = make([]byte, r.IntN(5))
	}
	for range r.IntN(4) {
		e := &raftpb.Entry{Term: opt(), Index: opt()}
		if r.IntN(2) == 0 {
			e.Type = raftpb.EntryType(r.IntN(3)).Enum()
		}
		if r.IntN(3) > 0 {
			e.Data = make([]byte, r.IntN(40))
		}
		m.Entries = append(m.Entries, e)
	}
	return m
}

func TestFastCodecMatchesProto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var boxes slabChunk[messageBox]
	var decoded, originals []*raftpb.Message
	for i := range 20000 {
		m := randomMessage(r)
		want, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendMessage(nil, m)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("case %d: appendMessage = %x, %v; proto.Marshal = %x", i, got, err, want)
		}
		if n := messageSize(m); n != len(want) {
			t.Fatalf("case %d: messageSize = %d, want %d", i, n, len(want))
		}
		dec, ok := fastDecodeMessage(want, nil)
		if !ok || !proto.Equal(dec, m) {
			t.Fatalf("case %d: fast decode = %v (ok %v), want %v", i, dec, ok, m)
		}
		// The same from a stream's chunk of boxes, whose earlier
		// messages must stay intact.
		dec, ok = fastDecodeMessage(want, &boxes)
		if !ok || !proto.Equal(dec, m) {
			t.Fatalf("case %d: fast decode with boxes = %v (ok %v), want %v", i, dec, ok, m)
		}
		decoded = append(decoded, dec)
		originals = append(originals, m)
	}
	for i, dec := range decoded {
		if !proto.Equal(dec, originals[i]) {
			t.Fatalf("case %d changed after later decodes: %v, want %v", i, dec, originals[i])
		}
	}
}

func TestFastCodecFallsBack(t *testing.T) {
	snapMsg := msg(raftpb.MsgSnap, 1, 2, 3)
	snapMsg.Snapshot = &raftpb.Snapshot{Data: []byte("x"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(7)}}
	withResponses := msg(raftpb.MsgStorageAppend, 1, 2, 3)
	withResponses.Responses = []*raftpb.Message{msg(raftpb.MsgAppResp, 2, 1, 3)}
	tests := map[string]*raftpb.Message{"snapshot": snapMsg, "responses": withResponses}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			want, _ := proto.Marshal(m)
			got, err := appendMessage(nil, m)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("appendMessage = %x, %v; want %x", got, err, want)
			}
			if _, ok := fastDecodeMessage(want, nil); ok {
				t.Fatal("fast decoder accepted a message it does not cover")
			}
			dec, err := decodeMessage(want, nil)
			if err != nil || !proto.Equal(dec, m) {
				t.Fatalf("decodeMessage = %v, %v", dec, err)
			}
		})
	}
}

func TestFastDecodeDoesNotAliasOrOverlap(t *testing.T) {
	m := msg(raftpb.MsgApp, 1, 2, 1)
	m.Entries = []*raftpb.Entry{{Data: []byte("ab")}, {Data: []byte("cd")}}
	m.Context = []byte("ctx")
	b, _ := proto.Marshal(m)
	dec, err := decodeMessage(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	_ = append(dec.Entries[0].Data, 'X')
	if string(dec.Entries[0].Data) != "ab" || string(dec.Entries[1].Data) != "cd" || string(dec.Context) != "ctx" {
		t.Fatalf("decoded bytes changed: %q %q %q", dec.Entries[0].Data, dec.Entries[1].Data, dec.Context)
	}
}

// FuzzFastDecode checks the hand-written decoder against proto.Unmarshal
// on arbitrary bytes: same verdict, equal messages.
func FuzzFastDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 16 {
		b, _ := proto.Marshal(randomMessage(r))
		f.Add(b)
	}
	f.Add([]byte{0x08, 0x99, 0x01}) // unknown enum value
	f.Add([]byte{0x78, 0x01})       // unknown field 15
	f.Fuzz(func(t *testing.T, b []byte) {
		want := &raftpb.Message{}
		wantErr := proto.Unmarshal(b, want)
		got, err := decodeMessage(b, nil)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeMessage error %v, proto.Unmarshal error %v", err, wantErr)
		}
		if err == nil && !proto.Equal(got, want) {
			t.Fatalf("decodeMessage = %v, proto.Unmarshal = %v", got, want)
		}
		if err == nil && fastEncodable(got) {
			enc, _ := appendMessage(nil, got)
			ref, _ := proto.Marshal(got)
			if !bytes.Equal(enc, ref) {
				t.Fatalf("re-encoding differs: %x vs %x", enc, ref)
			}
		}
	})
}

// TestCodecLastSizeIsProtoSize checks the sizes codecs report for metrics
// against proto.Size, on both stream codecs and every record kind.
func TestCodecLastSizeIsProtoSize(t *testing.T) {
	app := func(index uint64, data string) *raftpb.Message {
		m := msg(raftpb.MsgApp, 1, 2, 1)
		m.LogTerm, m.Index, m.Commit = proto.Uint64(1), proto.Uint64(index), proto.Uint64(index)
		m.Entries = []*raftpb.Entry{{Term: proto.Uint64(1), Index: proto.Uint64(index + 1), Data: []byte(data)}}
		return m
	}
	msgs := []*raftpb.Message{linkHeartbeat(), app(0, "first"), app(1, "fast path"), app(2, ""),
		msg(raftpb.MsgApp, 1, 2, 5)}
	var buf bytes.Buffer
	encs := []encoder{newMsgAppV2Encoder(&buf), newMessageEncoder(&buf)}
	for _, enc := range encs {
		buf.Reset()
		var decs []*raftpb.Message
		for _, m := range msgs {
			if err := enc.encode(m); err != nil {
				t.Fatal(err)
			}
			if want := proto.Size(m); enc.lastSize() != want {
				t.Errorf("%T encoding %v: lastSize %d, proto.Size %d", enc, m, enc.lastSize(), want)
			}
			decs = append(decs, m)
		}
		var dec decoder = newMessageDecoder(&buf, 1<<20)
		if _, ok := enc.(*msgAppV2Encoder); ok {
			dec = newMsgAppV2Decoder(&buf, 2, 1, 1<<20)
		}
		for range decs {
			m, err := dec.decode()
			if err != nil {
				t.Fatal(err)
			}
			if want := proto.Size(m); dec.lastSize() != want {
				t.Errorf("%T decoding %v: lastSize %d, proto.Size %d", dec, m, dec.lastSize(), want)
			}
		}
	}
}

// TestAppStatsSizeIsProtoSize encodes MsgApps on a msgappv2 stream, fast
// path and full records, some with fields the fast-path record leaves out:
// the size a stream writer records in ServerStats must be proto.Size, as
// etcd's Send records it.
func TestAppStatsSizeIsProtoSize(t *testing.T) {
	index := uint64(0)
	app := func(data string, extra func(m *raftpb.Message)) *raftpb.Message {
		m := msg(raftpb.MsgApp, 1, 2, 1)
		m.LogTerm, m.Index, m.Commit = proto.Uint64(1), proto.Uint64(index), proto.Uint64(index)
		index++
		m.Entries = []*raftpb.Entry{{Term: proto.Uint64(1), Index: proto.Uint64(index), Data: []byte(data)}}
		if extra != nil {
			extra(m)
		}
		return m
	}
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7)
	msgs := []*raftpb.Message{
		app("first: a full record", nil),
		app("fast path", nil),
		app("", nil),
		app("context", func(m *raftpb.Message) { m.Context = []byte("ctx") }),
		app("vote", func(m *raftpb.Message) { m.Vote = proto.Uint64(3) }),
		app("reject", func(m *raftpb.Message) { m.Reject, m.RejectHint = proto.Bool(false), proto.Uint64(9) }),
		app("unknown", func(m *raftpb.Message) { m.ProtoReflect().SetUnknown(unknown) }),
		app("entry unknown", func(m *raftpb.Message) { m.Entries[0].ProtoReflect().SetUnknown(unknown) }),
		app("long", func(m *raftpb.Message) { m.Entries[0].Data = make([]byte, directDataBytes) }),
		msg(raftpb.MsgApp, 1, 2, 5), // a new term: a full record
	}
	enc := newMsgAppV2Encoder(io.Discard)
	for i, m := range msgs {
		if err := enc.encode(m); err != nil {
			t.Fatal(err)
		}
		if got, want := appStatsSize(m, enc.lastSize()), proto.Size(m); got != want {
			t.Errorf("message %d: appStatsSize %d, proto.Size %d", i, got, want)
		}
	}
}

// TestMsgAppV2LargeEntriesKeepTheirBytes decodes consecutive fast-path
// records with entries large enough for copies of their own, next to small
// ones in the slab, and a record too large for the decoder to keep its
// buffer, and checks that no later record overwrites an earlier message's
// entries.
func TestMsgAppV2LargeEntriesKeepTheirBytes(t *testing.T) {
	var buf bytes.Buffer
	enc := newMsgAppV2Encoder(&buf)
	var sent []*raftpb.Message
	index := uint64(0)
	entry := func(fill byte, size int) *raftpb.Entry {
		index++
		return &raftpb.Entry{Term: proto.Uint64(1), Index: proto.Uint64(index),
			Data: bytes.Repeat([]byte{fill}, size)}
	}
	for i := range 5 {
		m := msg(raftpb.MsgApp, 1, 2, 1)
		m.LogTerm, m.Index, m.Commit = proto.Uint64(1), proto.Uint64(index), proto.Uint64(index)
		fill := byte('a' + 2*i)
		switch i {
		case 0:
			m.LogTerm = proto.Uint64(0) // first record goes in full
			m.Entries = []*raftpb.Entry{entry(fill, ownCopyBytes)}
		case 4:
			m.Entries = []*raftpb.Entry{entry(fill, scratchKeepBytes), entry(fill+1, 10)}
		default:
			m.Entries = []*raftpb.Entry{entry(fill, 10), entry(fill+1, ownCopyBytes+i)}
		}
		if err := enc.encode(m); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, m)
	}
	dec := newMsgAppV2Decoder(&buf, 2, 1, 2<<20)
	var got []*raftpb.Message
	for range sent {
		m, err := dec.decode()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	for i := range sent {
		for j, e := range sent[i].Entries {
			if !bytes.Equal(got[i].Entries[j].Data, e.Data) {
				t.Fatalf("message %d entry %d: bytes changed after later records were decoded", i, j)
			}
		}
	}
}
