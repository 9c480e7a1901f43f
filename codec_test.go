package rafthttp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// goldenApp builds a MsgApp from remote to local with every field the
// msgappv2 fast path carries set, so that it round-trips exactly on either
// path. Each entry is {term, its index, data}.
func goldenApp(term, logTerm, index, commit uint64, data ...[]byte) *raftpb.Message {
	typ := raftpb.MsgApp
	m := &raftpb.Message{
		Type: &typ, From: proto.Uint64(goldenRemote), To: proto.Uint64(goldenLocal),
		Term: proto.Uint64(term), LogTerm: proto.Uint64(logTerm),
		Index: proto.Uint64(index), Commit: proto.Uint64(commit),
	}
	for i, d := range data {
		m.Entries = append(m.Entries, &raftpb.Entry{
			Term: proto.Uint64(term), Index: proto.Uint64(index + 1 + uint64(i)), Data: d,
		})
	}
	return m
}

// goldenBig returns n bytes of recognisable data.
func goldenBig(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i%251)
	}
	return b
}

func TestCodecMessageRoundTrip(t *testing.T) {
	typ := func(t raftpb.MessageType) *raftpb.MessageType { return &t }
	tests := []struct {
		name string
		msgs []*raftpb.Message
	}{
		{"link heartbeat", []*raftpb.Message{linkHeartbeat()}},
		{"empty message", []*raftpb.Message{{}}},
		{"heartbeats", []*raftpb.Message{
			{Type: typ(raftpb.MsgHeartbeat), From: proto.Uint64(1), To: proto.Uint64(2), Term: proto.Uint64(1), Commit: proto.Uint64(3)},
			{Type: typ(raftpb.MsgHeartbeatResp), From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(1), Context: []byte("ctx")},
		}},
		{"every field", []*raftpb.Message{{
			Type: typ(raftpb.MsgSnap), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(math.MaxUint64),
			LogTerm: proto.Uint64(4), Index: proto.Uint64(5), Commit: proto.Uint64(6), Vote: proto.Uint64(7),
			Reject: proto.Bool(true), RejectHint: proto.Uint64(8), Context: []byte{0},
			Entries: []*raftpb.Entry{{Type: raftpb.EntryConfChangeV2.Enum(), Term: proto.Uint64(1), Index: proto.Uint64(2)}},
			Snapshot: &raftpb.Snapshot{Data: []byte("d"), Metadata: &raftpb.SnapshotMetadata{
				ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}, LearnersNext: []uint64{3}, AutoLeave: proto.Bool(true)},
				Index:     proto.Uint64(9), Term: proto.Uint64(10),
			}},
			Responses: []*raftpb.Message{{Type: typ(raftpb.MsgStorageAppendResp), Index: proto.Uint64(5)}},
		}}},
		{"large entries", []*raftpb.Message{
			goldenApp(1, 1, 0, 0, goldenBig(2<<20, 1)),
			goldenApp(1, 1, 1, 1, []byte("small")),
			goldenApp(1, 1, 2, 2, goldenBig(3<<20, 2), goldenBig(scratchKeepBytes, 3)),
			goldenApp(1, 1, 4, 4, []byte("after")),
		}},
	}
	// More messages without entries than a stream decoder carves from one
	// array of boxes.
	var answers []*raftpb.Message
	for i := range uint64(2*boxChunkLen + 3) {
		answers = append(answers, &raftpb.Message{Type: typ(raftpb.MsgAppResp), From: proto.Uint64(2),
			To: proto.Uint64(1), Term: proto.Uint64(1), Index: proto.Uint64(100 + i), Commit: proto.Uint64(i)})
	}
	tests = append(tests, struct {
		name string
		msgs []*raftpb.Message
	}{"answers", answers})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := newMessageEncoder(&buf)
			for _, m := range tt.msgs {
				if err := enc.encode(m); err != nil {
					t.Fatal(err)
				}
				if cap(enc.buf) > scratchKeepBytes {
					t.Fatalf("encoder kept a %d-byte buffer", cap(enc.buf))
				}
			}
			wire := buf.Bytes()
			for name, r := range goldenReaders(wire) {
				dec := newMessageDecoder(r, defaultMaxMessageBytes)
				if _, buffered := r.(*bufio.Reader); buffered {
					dec = newStreamMessageDecoder(r, defaultMaxMessageBytes)
				}
				var decoded []*raftpb.Message
				for i, want := range tt.msgs {
					got, err := dec.decode()
					if err != nil {
						t.Fatalf("%s: message %d: %v", name, i, err)
					}
					if !proto.Equal(got, want) {
						t.Fatalf("%s: message %d = %v, want %v", name, i, goldenShort(got), goldenShort(want))
					}
					if cap(dec.scratch) > scratchKeepBytes {
						t.Fatalf("%s: decoder kept a %d-byte buffer", name, cap(dec.scratch))
					}
					decoded = append(decoded, got)
				}
				for i, got := range decoded { // boxes share arrays: none overwritten
					if !proto.Equal(got, tt.msgs[i]) {
						t.Fatalf("%s: message %d changed to %v", name, i, goldenShort(got))
					}
				}
				if _, err := dec.decode(); err != io.EOF {
					t.Fatalf("%s: decode at the end = %v, want EOF", name, err)
				}
			}
		})
	}
}

// goldenReaders serves wire whole and one byte per Read: chunk boundaries
// carry no meaning.
func goldenReaders(wire []byte) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":    bytes.NewReader(wire),
		"one byte": iotest.OneByteReader(bytes.NewReader(wire)),
		// Buffered, as streams read: records found whole in the buffer
		// are decoded in place, others (or parts) read piece by piece.
		"buffered":          bufio.NewReaderSize(bytes.NewReader(wire), streamReadBufSize),
		"buffered, partial": bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(wire)), 64),
	}
}

// goldenShort prints a message without its bulky data.
func goldenShort(m *raftpb.Message) string {
	c := proto.Clone(m).(*raftpb.Message)
	for _, e := range c.Entries {
		if len(e.Data) > 16 {
			e.Data = append(e.Data[:16:16], "..."...)
		}
	}
	return c.String()
}

func TestCodecMsgAppV2RoundTrip(t *testing.T) {
	hb := linkHeartbeat()
	const (
		full = msgAppV2FullMessage
		fast = msgAppV2AppEntries
		beat = msgAppV2LinkHeartbeat
	)
	withReject := goldenApp(1, 1, 5, 1) // index out of step: full path
	withReject.Reject, withReject.Context = proto.Bool(true), []byte("x")
	tests := []struct {
		name    string
		msgs    []*raftpb.Message
		records []byte // the record type the encoder must choose for each
	}{
		{"heartbeats", []*raftpb.Message{hb, hb}, []byte{beat, beat}},
		{"fast path from the zero state", []*raftpb.Message{goldenApp(0, 0, 0, 0, []byte("a"))}, []byte{fast}},
		{"consecutive", []*raftpb.Message{
			goldenApp(1, 1, 0, 0, []byte("a"), []byte("b")),
			goldenApp(1, 1, 2, 2, []byte("c")),
			goldenApp(1, 1, 3, 3, []byte("d"), []byte("e"), []byte("f")),
		}, []byte{full, fast, fast}},
		{"after a heartbeat", []*raftpb.Message{
			goldenApp(1, 1, 0, 0, []byte("a")), hb, goldenApp(1, 1, 1, 1, []byte("b")), hb,
		}, []byte{full, beat, fast, beat}},
		{"higher term", []*raftpb.Message{
			goldenApp(1, 1, 0, 0, []byte("a")),
			goldenApp(2, 2, 1, 1, []byte("b")),
			goldenApp(2, 2, 2, 2, []byte("c")),
		}, []byte{full, full, fast}},
		{"LogTerm differs from Term", []*raftpb.Message{
			goldenApp(2, 1, 5, 5, []byte("a")),
			goldenApp(2, 2, 6, 6, []byte("b")),
			goldenApp(3, 2, 7, 7, []byte("c")),
		}, []byte{full, fast, full}},
		{"empty entries", []*raftpb.Message{
			goldenApp(1, 1, 0, 0), goldenApp(1, 1, 0, 3), goldenApp(1, 1, 0, 4, []byte("a")), goldenApp(1, 1, 1, 4),
		}, []byte{full, fast, fast, fast}},
		{"index out of step", []*raftpb.Message{
			goldenApp(1, 1, 0, 0, []byte("a")), goldenApp(1, 1, 0, 0, []byte("a")), goldenApp(1, 1, 1, 1),
		}, []byte{full, full, fast}},
		{"full path keeps every field", []*raftpb.Message{goldenApp(1, 1, 0, 0, []byte("a")), withReject}, []byte{full, full}},
		{"large entries", []*raftpb.Message{
			goldenApp(1, 1, 0, 0, goldenBig(2<<20, 1)),
			goldenApp(1, 1, 1, 1, goldenBig(scratchKeepBytes+1, 2), []byte("small"), goldenBig(3<<20, 3)),
			goldenApp(1, 1, 4, 4, []byte("after")),
			goldenApp(2, 2, 5, 5, goldenBig(2<<20, 4)),
		}, []byte{full, fast, fast, full}},
	}
	// MsgApps that only advance the commit index, more than a decoder
	// carves from one array.
	commits := []*raftpb.Message{goldenApp(1, 1, 0, 0, []byte("a"))}
	kinds := []byte{full}
	for i := range uint64(2*emptyAppChunkLen + 3) {
		commits, kinds = append(commits, goldenApp(1, 1, 1, i)), append(kinds, fast)
	}
	tests = append(tests, struct {
		name    string
		msgs    []*raftpb.Message
		records []byte
	}{"commit index only", commits, kinds})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w goldenWrites
			enc := newMsgAppV2Encoder(&w)
			var states []msgAppV2State
			for i, m := range tt.msgs {
				mark := w.mark()
				if err := enc.encode(m); err != nil {
					t.Fatal(err)
				}
				if got := w.since(mark)[0]; got != tt.records[i] {
					t.Fatalf("message %d: record type %d, want %d", i, got, tt.records[i])
				}
				if cap(enc.buf) > scratchKeepBytes {
					t.Fatalf("encoder kept a %d-byte buffer", cap(enc.buf))
				}
				states = append(states, enc.state)
			}
			for name, r := range goldenReaders(w.all()) {
				dec := newMsgAppV2Decoder(r, goldenLocal, goldenRemote, defaultMaxMessageBytes)
				var decoded []*raftpb.Message
				for i, want := range tt.msgs {
					got, err := dec.decode()
					if err != nil {
						t.Fatalf("%s: message %d: %v", name, i, err)
					}
					if !proto.Equal(got, want) {
						t.Fatalf("%s: message %d = %v, want %v", name, i, goldenShort(got), goldenShort(want))
					}
					if dec.state != states[i] {
						t.Fatalf("%s: message %d: decoder state %+v, encoder state %+v", name, i, dec.state, states[i])
					}
					decoded = append(decoded, got)
				}
				for i, got := range decoded { // messages share arrays: none overwritten
					if !proto.Equal(got, tt.msgs[i]) {
						t.Fatalf("%s: message %d changed to %v", name, i, goldenShort(got))
					}
				}
				if _, err := dec.decode(); err != io.EOF {
					t.Fatalf("%s: decode at the end = %v, want EOF", name, err)
				}
			}
		})
	}
}

// goldenDecodeFunc decodes one message from r the way a stream would.
type goldenDecodeFunc func(r io.Reader, limit uint64) (*raftpb.Message, error)

func goldenDecodeMessage(r io.Reader, limit uint64) (*raftpb.Message, error) {
	return newMessageDecoder(r, limit).decode()
}

func goldenDecodeMsgAppV2(r io.Reader, limit uint64) (*raftpb.Message, error) {
	return newMsgAppV2Decoder(r, goldenLocal, goldenRemote, limit).decode()
}

// goldenBE64 concatenates big-endian 64-bit values.
func goldenBE64(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func goldenCat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// errGoldenOverread is what goldenHeaderOnly returns once its bytes are
// used up: a decoder that got it read further than it should have.
var errGoldenOverread = errors.New("read past the header")

type goldenFailReader struct{}

func (goldenFailReader) Read([]byte) (int, error) { return 0, errGoldenOverread }

// goldenHeaderOnly serves b and fails any read beyond it.
func goldenHeaderOnly(b []byte) io.Reader {
	return io.MultiReader(bytes.NewReader(b), goldenFailReader{})
}

func TestCodecDecoderSizeLimit(t *testing.T) {
	const limit = 1000
	entry := goldenCat(goldenBE64(2), []byte{0x10, 0x01})
	tests := []struct {
		name   string
		decode goldenDecodeFunc
		header []byte // everything the decoder may read before refusing
	}{
		{"message frame", goldenDecodeMessage, goldenBE64(limit + 1)},
		{"message frame 2^64-1", goldenDecodeMessage, goldenBE64(math.MaxUint64)},
		{"msgappv2 full", goldenDecodeMsgAppV2, goldenCat([]byte{2}, goldenBE64(limit+1))},
		{"msgappv2 entry count", goldenDecodeMsgAppV2, goldenCat([]byte{1}, goldenBE64(limit/8+1))},
		{"msgappv2 entry count 2^63", goldenDecodeMsgAppV2, goldenCat([]byte{1}, goldenBE64(1<<63))},
		{"msgappv2 entry size", goldenDecodeMsgAppV2, goldenCat([]byte{1}, goldenBE64(1, limit+1))},
		{"msgappv2 entries add up", goldenDecodeMsgAppV2, goldenCat([]byte{1}, goldenBE64(3), entry, goldenBE64(limit-1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.decode(goldenHeaderOnly(tt.header), limit)
			if err != ErrExceedSizeLimit || m != nil {
				t.Fatalf("decode = %v, %v; want nil, ErrExceedSizeLimit", m, err)
			}
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		frame := goldenCat(goldenBE64(limit), []byte{0x62, 0xe5, 0x07}, make([]byte, limit-3))
		m, err := goldenDecodeMessage(bytes.NewReader(frame), limit)
		if err != nil || len(m.GetContext()) != limit-3 {
			t.Fatalf("decode = %d-byte context, %v; want %d bytes", len(m.GetContext()), err, limit-3)
		}
	})
}

func TestCodecHostileEntryCountDoesNotAllocate(t *testing.T) {
	for _, count := range []uint64{1 << 63, math.MaxUint64, defaultMaxMessageBytes/8 + 1} {
		record := goldenCat([]byte{msgAppV2AppEntries}, goldenBE64(count))
		r := bytes.NewReader(record)
		dec := newMsgAppV2Decoder(r, goldenLocal, goldenRemote, defaultMaxMessageBytes)
		allocs := testing.AllocsPerRun(10, func() {
			r.Reset(record)
			if _, err := dec.decode(); err != ErrExceedSizeLimit {
				t.Fatalf("count %d: decode = %v, want ErrExceedSizeLimit", count, err)
			}
		})
		if allocs != 0 {
			t.Errorf("count %d: %v allocations per decode, want 0", count, allocs)
		}
	}
	// The largest count the limit allows (64Mi) must cost a bounded
	// preallocation, not 512 MiB of pointers, when the entries never come.
	record := goldenCat([]byte{msgAppV2AppEntries}, goldenBE64(defaultMaxMessageBytes/8))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := goldenDecodeMsgAppV2(bytes.NewReader(record), defaultMaxMessageBytes)
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("decode = %v, want ErrUnexpectedEOF", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("decode allocated %d bytes for entries that never came", n)
	}
}

// goldenValidStreams holds one well-formed stream per record kind.
func goldenValidStreams(t *testing.T) map[string]struct {
	decode goldenDecodeFunc
	wire   []byte
} {
	t.Helper()
	frame, err := appendMessageFrame(nil, goldenApp(1, 1, 0, 0, []byte("ab")))
	if err != nil {
		t.Fatal(err)
	}
	var w goldenWrites
	enc := newMsgAppV2Encoder(&w)
	for _, m := range []*raftpb.Message{goldenApp(1, 1, 0, 0, []byte("ab")), goldenApp(0, 0, 0, 0, []byte("cd"), nil)} {
		enc.state = msgAppV2State{}
		if err := enc.encode(m); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]struct {
		decode goldenDecodeFunc
		wire   []byte
	}{
		"message frame":       {goldenDecodeMessage, frame},
		"msgappv2 full":       {goldenDecodeMsgAppV2, w.writes[0]},
		"msgappv2 AppEntries": {goldenDecodeMsgAppV2, w.writes[1]},
	}
}

func TestCodecTruncated(t *testing.T) {
	for name, s := range goldenValidStreams(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := s.decode(bytes.NewReader(s.wire), defaultMaxMessageBytes); err != nil {
				t.Fatalf("whole stream: %v", err)
			}
			if _, err := s.decode(bytes.NewReader(nil), defaultMaxMessageBytes); err != io.EOF {
				t.Fatalf("empty stream: %v, want EOF", err)
			}
			for n := 1; n < len(s.wire); n++ {
				m, err := s.decode(bytes.NewReader(s.wire[:n]), defaultMaxMessageBytes)
				if err != io.ErrUnexpectedEOF || m != nil {
					t.Fatalf("first %d of %d bytes: %v, %v; want ErrUnexpectedEOF", n, len(s.wire), m, err)
				}
			}
		})
	}
}

func TestCodecMsgAppV2UnknownType(t *testing.T) {
	for _, typ := range []byte{3, 4, 0x7f, 0xff} {
		_, err := goldenDecodeMsgAppV2(goldenHeaderOnly([]byte{typ}), defaultMaxMessageBytes)
		want := fmt.Sprintf("failed to parse type %d in msgappv2 stream", typ)
		if err == nil || err.Error() != want {
			t.Errorf("type %d: err = %v, want %q", typ, err, want)
		}
	}
}

func TestCodecMalformedProtobuf(t *testing.T) {
	// Each payload is malformed as a Message; nested ones are valid as an
	// Entry (field 7 is unknown there) and are not tried as one.
	payloads := map[string]struct {
		p      []byte
		nested bool
	}{
		"truncated tag":        {p: []byte{0xff}},
		"field number 0":       {p: []byte{0x00, 0x01}},
		"truncated varint":     {p: []byte{0x10, 0x80}},
		"varint overflow":      {p: []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		"bytes past the end":   {p: []byte{0x22, 0x05, 0x10, 0x01}},
		"end group":            {p: []byte{0x0c}},
		"deprecated wire type": {p: []byte{0x0f}},
		"bad entry":            {p: []byte{0x3a, 0x02, 0x10, 0x80}, nested: true},
		"bad snapshot":         {p: []byte{0x4a, 0x03, 0x12, 0x01, 0x10}, nested: true},
	}
	for name, tt := range payloads {
		p := tt.p
		t.Run(name, func(t *testing.T) {
			streams := map[string]struct {
				decode goldenDecodeFunc
				wire   []byte
			}{
				"message frame": {goldenDecodeMessage, goldenCat(goldenBE64(uint64(len(p))), p)},
				"msgappv2 full": {goldenDecodeMsgAppV2, goldenCat([]byte{2}, goldenBE64(uint64(len(p))), p)},
				"msgappv2 entry": {goldenDecodeMsgAppV2, goldenCat([]byte{1}, goldenBE64(1, uint64(len(p))), p,
					goldenBE64(0))},
			}
			if tt.nested {
				delete(streams, "msgappv2 entry")
			}
			for sname, s := range streams {
				m, err := s.decode(bytes.NewReader(s.wire), defaultMaxMessageBytes)
				if err == nil || m != nil || !errors.Is(err, proto.Error) {
					t.Errorf("%s: decode = %v, %v; want a protobuf error", sname, m, err)
					continue
				}
				if !strings.HasPrefix(err.Error(), "rafthttp: unmarshal") {
					t.Errorf("%s: error %q does not say what failed", sname, err)
				}
			}
		})
	}
}

// goldenVersionCases is shared with the FuzzParseVersion seed corpus.
var goldenVersionCases = []struct {
	in           string
	major, minor uint64
	ok           bool
}{
	{"3", 3, 0, true},
	{"3.5", 3, 5, true},
	{"3.7.3", 3, 7, true},
	{"v3.5.1", 3, 5, true},
	{"3.7.3-alpha+git", 3, 7, true},
	{"3.8.0-alpha.0", 3, 8, true},
	{"2.1.0-alpha.0+git", 2, 1, true},
	{"0.0.0", 0, 0, true},
	{"18446744073709551615.1", math.MaxUint64, 1, true},
	{"", 0, 0, false},
	{"garbage", 0, 0, false},
	{"3.5.0.1", 0, 0, false},
	{"03.1", 0, 0, false},
	{"3.01", 0, 0, false},
	{"3.", 0, 0, false},
	{".5", 0, 0, false},
	{"v", 0, 0, false},
	{"vv3.5", 0, 0, false},
	{"V3.5", 0, 0, false},
	{" 3.5", 0, 0, false},
	{"-3.5", 0, 0, false},
	{"3.-5", 0, 0, false},
	{"18446744073709551616.0", 0, 0, false},
}

func TestCodecParseMajorMinor(t *testing.T) {
	for _, tt := range goldenVersionCases {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseMajorMinor(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseMajorMinor(%q) = %v, %v; want ok=%v", tt.in, got, err, tt.ok)
			}
			if want := (majorMinor{tt.major, tt.minor}); got != want {
				t.Fatalf("parseMajorMinor(%q) = %v, want %v", tt.in, got, want)
			}
		})
	}
}

// goldenWrites records each Write call; our encoders write one frame or
// record per call.
type goldenWrites struct {
	writes [][]byte
}

func (w *goldenWrites) Write(b []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(b))
	return len(b), nil
}

func (w *goldenWrites) last() []byte {
	if len(w.writes) == 0 {
		return nil
	}
	return w.writes[len(w.writes)-1]
}

// mark returns the position since reads from.
func (w *goldenWrites) mark() int { return len(w.writes) }

// since returns what was written after mark: one encode call's record,
// however many Writes it took.
func (w *goldenWrites) since(mark int) []byte {
	return bytes.Join(w.writes[mark:], nil)
}

func (w *goldenWrites) all() []byte {
	return bytes.Join(w.writes, nil)
}

// TestMsgAppV2LargeDataWireBytes checks that a fast-path record whose
// entries' Data is written by reference, between small entries, has the
// bytes of the codec's definition: entries marshalled by proto.Marshal.
func TestMsgAppV2LargeDataWireBytes(t *testing.T) {
	first := goldenApp(1, 1, 0, 0, []byte("a"))
	m := goldenApp(1, 1, 1, 7, []byte("small"), goldenBig(directDataBytes, 1), nil, goldenBig(64<<10, 2), []byte("x"))
	m.Entries[2].Type = raftpb.EntryConfChange.Enum()
	var w goldenWrites
	enc := newMsgAppV2Encoder(&w)
	for _, msg := range []*raftpb.Message{first, m} {
		if err := enc.encode(msg); err != nil {
			t.Fatal(err)
		}
	}
	want := binary.BigEndian.AppendUint64([]byte{msgAppV2AppEntries}, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		b, err := proto.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		want = append(binary.BigEndian.AppendUint64(want, uint64(len(b))), b...)
	}
	want = binary.BigEndian.AppendUint64(want, m.GetCommit())
	if got := w.all(); !bytes.HasSuffix(got, want) || len(got) != len(w.writes[0])+len(want) {
		t.Fatalf("record differs from its definition (%d bytes written, want %d after the first record)",
			len(got), len(want))
	}
	if enc.lastSize() != proto.Size(m) {
		t.Fatalf("lastSize %d, proto.Size %d", enc.lastSize(), proto.Size(m))
	}
}
