package rafthttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
)

// TestCodecGoldenFuzzCorpus keeps the seed corpora of the fuzz targets in
// step with the golden vectors. It lives in fuzz_test.go, which sorts after
// codec_golden_test.go, so that -rewrite runs it after the golden tests.
func TestCodecGoldenFuzzCorpus(t *testing.T) {
	for target, seeds := range goldenFuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if *goldenRewrite {
			goldenWriteCorpus(t, dir, seeds)
			continue
		}
		for name, content := range seeds {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != content {
				t.Errorf("%s/%s is missing or stale; run go test -run TestCodecGolden -rewrite", dir, name)
			}
		}
	}
}

// goldenFuzzSeeds returns, per fuzz target, the corpus files the golden
// vectors give: each vector's sparse stream and, if it has one, its dense
// stream.
func goldenFuzzSeeds(t *testing.T) map[string]map[string]string {
	t.Helper()
	seeds := map[string]map[string]string{
		"FuzzMessageDecoder":   {},
		"FuzzMsgAppV2Decoder":  {},
		"FuzzSnapshotEnvelope": {},
		"FuzzParseVersion":     {},
	}
	add := func(target, codec string) {
		for _, v := range goldenLoad(t, codec).vectors {
			for _, stream := range v.streams() {
				name := fmt.Sprintf("golden-%s-%s-%s", codec, v.name, stream.name)
				seeds[target][name] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", stream.bytes)
			}
		}
	}
	add("FuzzMessageDecoder", goldenMessage)
	add("FuzzMsgAppV2Decoder", goldenMsgAppV2)
	add("FuzzSnapshotEnvelope", goldenSnapshot)
	add("FuzzSnapshotEnvelope", goldenMessage)
	for i, c := range goldenVersionCases {
		seeds["FuzzParseVersion"][fmt.Sprintf("golden-version-%02d", i)] =
			fmt.Sprintf("go test fuzz v1\nstring(%q)\n", c.in)
	}
	return seeds
}

// goldenWriteCorpus replaces the golden-* files of one corpus directory,
// leaving any other seed (such as a crasher the fuzzer found) alone.
func goldenWriteCorpus(t *testing.T, dir string, seeds map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "golden-*"))
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range seeds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fuzzLimit caps every length the fuzzed decoders accept, which bounds what
// one input can make them allocate.
const fuzzLimit = 1 << 20

// FuzzMessageDecoder feeds arbitrary bytes to the message stream decoder.
// It must never panic, fail only in the ways a stream can fail, and every
// message it returns must re-encode to a frame that decodes to the same
// message.
func FuzzMessageDecoder(f *testing.F) {
	f.Add(goldenBE64(fuzzLimit + 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		dec := newMessageDecoder(r, fuzzLimit)
		var msgs []*raftpb.Message
		var err error
		for {
			var m *raftpb.Message
			if m, err = dec.decode(); err != nil {
				fuzzCheckStreamError(t, err, r)
				break
			}
			fuzzCheckMessageRoundTrip(t, m)
			msgs = append(msgs, m)
		}
		fuzzCheckBuffered(t, data, msgs, err, func(br *bufio.Reader) decoder {
			return newStreamMessageDecoder(br, fuzzLimit)
		})
	})
}

// fuzzCheckStreamError accepts only the errors a decoder may return: EOF
// exactly at a record boundary, a truncated record, a length over the
// limit, or a protobuf error.
func fuzzCheckStreamError(t *testing.T, err error, r *bytes.Reader) {
	t.Helper()
	switch {
	case err == io.EOF:
		if r.Len() != 0 {
			t.Fatalf("EOF with %d bytes unread", r.Len())
		}
	case err == io.ErrUnexpectedEOF, err == ErrExceedSizeLimit, errors.Is(err, proto.Error):
	case strings.HasPrefix(err.Error(), "failed to parse type "):
	default:
		t.Fatalf("unexpected error %T %v", err, err)
	}
}

// fuzzCheckMessageRoundTrip re-encodes m as a frame and as a pipeline body
// and checks both decode to m again.
func fuzzCheckMessageRoundTrip(t *testing.T, m *raftpb.Message) {
	t.Helper()
	frame, err := appendMessageFrame(nil, m)
	if err != nil {
		t.Fatalf("re-encoding %v: %v", m, err)
	}
	body, err := proto.Marshal(m)
	if err != nil || !bytes.Equal(body, frame[8:]) {
		t.Fatalf("pipeline body %x, %v differs from frame payload %x", body, err, frame[8:])
	}
	// Re-encoding may be larger than the input (packed repeated fields are
	// written unpacked), so the limit does not apply here.
	got, err := newMessageDecoder(bytes.NewReader(frame), uint64(len(frame))).decode()
	if err != nil {
		t.Fatalf("decoding re-encoded %v: %v", m, err)
	}
	if !proto.Equal(got, m) {
		t.Fatalf("re-encoded %v decodes to %v", m, got)
	}
}

// FuzzMsgAppV2Decoder feeds arbitrary bytes to the msgappv2 decoder. It
// must never panic or fail in unexpected ways, and re-encoding what it
// returns through a fresh encoder must give a stream a fresh decoder reads
// back the same way: the two sides' (term, index) state stays in step.
func FuzzMsgAppV2Decoder(f *testing.F) {
	f.Add([]byte{3})
	f.Add(goldenCat([]byte{msgAppV2AppEntries}, goldenBE64(1<<63)))
	f.Add(goldenCat([]byte{msgAppV2AppEntries}, goldenBE64(fuzzLimit/8, 0, 0, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		dec := newMsgAppV2Decoder(r, goldenLocal, goldenRemote, fuzzLimit)
		var msgs []*raftpb.Message
		var err error
		for {
			var m *raftpb.Message
			if m, err = dec.decode(); err != nil {
				fuzzCheckStreamError(t, err, r)
				break
			}
			fuzzCheckMessageRoundTrip(t, m)
			msgs = append(msgs, m)
		}
		fuzzCheckMsgAppV2ReEncode(t, msgs)
		fuzzCheckBuffered(t, data, msgs, err, func(br *bufio.Reader) decoder {
			return newMsgAppV2Decoder(br, goldenLocal, goldenRemote, fuzzLimit)
		})
	})
}

// fuzzCheckBuffered decodes data again through read buffers, as streams
// do, where records found whole in the buffer take the in-place path: the
// messages (all still intact at the end) and the final error must be the
// same as want and wantErr, the unbuffered decode's.
func fuzzCheckBuffered(t *testing.T, data []byte, want []*raftpb.Message, wantErr error,
	newDecoder func(*bufio.Reader) decoder) {
	t.Helper()
	for _, size := range []int{16, 4096} {
		br := bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(data)), size)
		dec := newDecoder(br)
		var got []*raftpb.Message
		for i := 0; ; i++ {
			m, err := dec.decode()
			if err != nil {
				if i != len(want) || err.Error() != wantErr.Error() {
					t.Fatalf("buffer %d: error %v after %d messages, want %v after %d", size, err, i, wantErr, len(want))
				}
				break
			}
			if i >= len(want) || !proto.Equal(m, want[i]) {
				t.Fatalf("buffer %d: message %d differs from the unbuffered decode", size, i)
			}
			got = append(got, m)
		}
		for i, m := range got {
			if !proto.Equal(m, want[i]) {
				t.Fatalf("buffer %d: message %d changed while later ones were decoded", size, i)
			}
		}
	}
}

// fuzzCheckMsgAppV2ReEncode encodes msgs on a new connection and decodes
// them again. A full record must round-trip exactly, a heartbeat must stay
// a link heartbeat, and a fast-path record must keep what it carries.
func fuzzCheckMsgAppV2ReEncode(t *testing.T, msgs []*raftpb.Message) {
	t.Helper()
	var w goldenWrites
	enc := newMsgAppV2Encoder(&w)
	states := make([]msgAppV2State, len(msgs))
	for i, m := range msgs {
		if err := enc.encode(m); err != nil {
			t.Fatalf("re-encoding %v: %v", m, err)
		}
		states[i] = enc.state
	}
	// The decoder charges entryOverhead per entry on top of its bytes, so
	// the limit must cover that as well as the stream's length.
	entries := 0
	for _, m := range msgs {
		entries += len(m.GetEntries())
	}
	limit := uint64(len(w.all()) + entries*entryOverhead)
	dec := newMsgAppV2Decoder(bytes.NewReader(w.all()), goldenLocal, goldenRemote, limit)
	for i, want := range msgs {
		got, err := dec.decode()
		if err != nil {
			t.Fatalf("message %d: decoding re-encoded %v: %v", i, want, err)
		}
		switch typ := w.writes[i][0]; typ {
		case msgAppV2LinkHeartbeat:
			if !isLinkHeartbeat(want) || !isLinkHeartbeat(got) {
				t.Fatalf("message %d: heartbeat record for %v decodes to %v", i, want, got)
			}
		case msgAppV2AppEntries:
			fuzzCheckFastPath(t, i, want, got)
		case msgAppV2FullMessage:
			if !proto.Equal(got, want) {
				t.Fatalf("message %d: full record for %v decodes to %v", i, want, got)
			}
		default:
			t.Fatalf("message %d: encoder wrote record type %d", i, typ)
		}
		if dec.state != states[i] {
			t.Fatalf("message %d: decoder state %+v, encoder state %+v", i, dec.state, states[i])
		}
	}
}

// fuzzCheckFastPath compares what an AppEntries record carries: the
// entries, the commit and the log position, addressed remote to local.
func fuzzCheckFastPath(t *testing.T, i int, want, got *raftpb.Message) {
	t.Helper()
	ok := got.GetType() == raftpb.MsgApp &&
		got.GetFrom() == goldenRemote && got.GetTo() == goldenLocal &&
		got.GetTerm() == want.GetTerm() && got.GetLogTerm() == want.GetLogTerm() &&
		got.GetIndex() == want.GetIndex() && got.GetCommit() == want.GetCommit() &&
		len(got.GetEntries()) == len(want.GetEntries())
	for j := 0; ok && j < len(want.GetEntries()); j++ {
		ok = proto.Equal(got.GetEntries()[j], want.GetEntries()[j])
	}
	if !ok {
		t.Fatalf("message %d: AppEntries record for %v decodes to %v", i, want, got)
	}
}

// FuzzSnapshotEnvelope POSTs arbitrary bodies to a running Transport's
// snapshot endpoint. The handler must answer 204 exactly when the body
// starts with a decodable MsgSnap envelope, and 400 otherwise; it must
// never panic.
func FuzzSnapshotEnvelope(f *testing.F) {
	f.Add(goldenBE64(fuzzLimit + 1))
	tm := goldenStartTransport(f, fuzzLimit)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := newMessageDecoder(bytes.NewReader(data), fuzzLimit).decode()
		if err == nil {
			fuzzCheckMessageRoundTrip(t, m)
		}
		rec := tm.post(t, RaftSnapshotPrefix, data)
		body := rec.Body.String()
		switch {
		case err != nil:
			if rec.Code != http.StatusBadRequest || !strings.HasPrefix(body, "failed to decode raft message (") {
				t.Fatalf("decode error %v answered %d %q", err, rec.Code, body)
			}
		case m.GetType() != raftpb.MsgSnap:
			if rec.Code != http.StatusBadRequest || body != "wrong raft message type\n" {
				t.Fatalf("%v answered %d %q", m.GetType(), rec.Code, body)
			}
		default:
			if rec.Code != http.StatusNoContent {
				t.Fatalf("MsgSnap answered %d %q", rec.Code, body)
			}
			if got := tm.raft.take(t); !proto.Equal(got, m) {
				t.Fatalf("raft got %v, want %v", got, m)
			}
		}
	})
}

// fuzzVersionRE is the version language parseMajorMinor documents: an
// optional "v", one to three dot-separated numbers without leading zeros,
// then anything after a "-" or "+".
var fuzzVersionRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?(?:\.(0|[1-9][0-9]*))?(?s:[-+].*)?$`)

// FuzzParseVersion checks parseMajorMinor against fuzzVersionRE: it must
// accept exactly the matching strings whose numbers fit in 64 bits, and
// agree on major and minor.
func FuzzParseVersion(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseMajorMinor(s)
		want, ok := fuzzParseVersionOracle(s)
		if (err == nil) != ok || (ok && got != want) {
			t.Fatalf("parseMajorMinor(%q) = %v, %v; oracle says %v, %v", s, got, err, want, ok)
		}
		if ok {
			if again, err := parseMajorMinor(got.String()); err != nil || again != got {
				t.Fatalf("parseMajorMinor(%q) = %v, %v; want %v", got.String(), again, err, got)
			}
		}
	})
}

func fuzzParseVersionOracle(s string) (majorMinor, bool) {
	sub := fuzzVersionRE.FindStringSubmatch(s)
	if sub == nil {
		return majorMinor{}, false
	}
	var nums [3]uint64
	for i, p := range sub[1:4] {
		if p == "" {
			continue
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return majorMinor{}, false
		}
		nums[i] = n
	}
	return majorMinor{major: nums[0], minor: nums[1]}, true
}

// goldenMember is a started Transport whose handler tests call directly.
type goldenMember struct {
	tr      *Transport
	raft    *goldenRaft
	handler http.Handler
}

// goldenStartTransport starts a Transport for member b of cluster c1 with a
// Snapshotter in a temporary directory. limit, if non-zero, caps both the
// message and the snapshot envelope sizes.
func goldenStartTransport(tb testing.TB, limit ...uint64) *goldenMember {
	tb.Helper()
	r := &goldenRaft{}
	tr := &Transport{ID: 0xb, ClusterID: 0xc1, Raft: r, Snapshotter: snap.New(nil, tb.TempDir())}
	if len(limit) > 0 {
		tr.Limits.MaxMessageBytes = limit[0]
		tr.Limits.MaxSnapshotEnvelopeBytes = limit[0]
	}
	if err := tr.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tr.Stop)
	return &goldenMember{tr: tr, raft: r, handler: tr.Handler()}
}

// post sends body to path as member a of cluster c1 would, without
// X-PeerURLs so that no remote is added.
func (g *goldenMember) post(tb testing.TB, path string, body []byte) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set(hdrServerFrom, "a")
	req.Header.Set(hdrServerVersion, defaultServerVersion)
	req.Header.Set(hdrMinClusterVersion, defaultMinClusterVersion)
	req.Header.Set(hdrClusterID, "c1")
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, req)
	return rec
}

// goldenRaft keeps the last message processed.
type goldenRaft struct {
	mu   sync.Mutex
	last *raftpb.Message
}

func (r *goldenRaft) Process(_ context.Context, m *raftpb.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = m
	return nil
}

func (r *goldenRaft) IsIDRemoved(uint64) bool                    { return false }
func (r *goldenRaft) ReportUnreachable(uint64)                   {}
func (r *goldenRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {}

// take returns and forgets the last message processed.
func (r *goldenRaft) take(tb testing.TB) *raftpb.Message {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.last
	if m == nil {
		tb.Fatal("raft processed no message")
	}
	r.last = nil
	return m
}
