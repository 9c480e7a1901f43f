package rafthttp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// goldenRewrite regenerates the sparse wire bytes of testdata/golden and the
// seed corpora of testdata/fuzz from our encoders. It is package state, but
// only a test flag.
var goldenRewrite = flag.Bool("rewrite", false,
	"rewrite wire bytes in testdata/golden and seeds in testdata/fuzz from our encoders")

// Codec names, one golden file each.
const (
	goldenPipeline = "pipeline"
	goldenMessage  = "message"
	goldenMsgAppV2 = "msgappv2"
	goldenSnapshot = "snapshot"
)

// goldenLocal and goldenRemote address the msgappv2 fast path: the decoder
// runs on member 2 reading a stream from member 1.
const (
	goldenLocal  = 2
	goldenRemote = 1
)

func TestCodecGoldenPipeline(t *testing.T) {
	f := goldenLoad(t, goldenPipeline)
	tm := goldenStartTransport(t)
	for _, v := range f.vectors {
		t.Run(v.name, func(t *testing.T) {
			s := v.only(t)
			got, err := proto.Marshal(s.msg)
			if err != nil {
				t.Fatal(err)
			}
			goldenCheckWire(t, s, got)
			for _, enc := range s.encodings() {
				m := &raftpb.Message{}
				if err := proto.Unmarshal(enc.bytes, m); err != nil {
					t.Fatalf("%s: unmarshal: %v", enc.name, err)
				}
				goldenCheckDecoded(t, enc.name, s, m, enc.exact)
				rec := tm.post(t, RaftPrefix, enc.bytes)
				if rec.Code != http.StatusNoContent {
					t.Fatalf("%s: POST %s = %d %q, want 204", enc.name, RaftPrefix, rec.Code, rec.Body)
				}
				goldenCheckDecoded(t, enc.name+" via handler", s, tm.raft.take(t), enc.exact)
			}
		})
	}
	f.finish(t)
}

func TestCodecGoldenMessage(t *testing.T) {
	f := goldenLoad(t, goldenMessage)
	for _, v := range f.vectors {
		t.Run(v.name, func(t *testing.T) {
			var w goldenWrites
			enc := newMessageEncoder(&w)
			for i, s := range v.steps {
				if err := enc.encode(s.msg); err != nil {
					t.Fatalf("step %d: encode: %v", i, err)
				}
				frame, err := appendMessageFrame(nil, s.msg)
				if err != nil || !bytes.Equal(frame, w.last()) {
					t.Fatalf("step %d: appendMessageFrame = %x, %v; encoder wrote %x", i, frame, err, w.last())
				}
				goldenCheckWire(t, s, w.last())
			}
			for _, stream := range v.streams() {
				dec := newMessageDecoder(bytes.NewReader(stream.bytes), defaultMaxMessageBytes)
				for i, s := range v.steps {
					m, err := dec.decode()
					if err != nil {
						t.Fatalf("%s step %d: decode: %v", stream.name, i, err)
					}
					goldenCheckDecoded(t, fmt.Sprintf("%s step %d", stream.name, i), s, m, stream.exact)
				}
				if _, err := dec.decode(); err != io.EOF {
					t.Fatalf("%s: decode after the last frame = %v, want EOF", stream.name, err)
				}
			}
		})
	}
	f.finish(t)
}

func TestCodecGoldenMsgAppV2(t *testing.T) {
	f := goldenLoad(t, goldenMsgAppV2)
	for _, v := range f.vectors {
		t.Run(v.name, func(t *testing.T) {
			var w goldenWrites
			enc := newMsgAppV2Encoder(&w)
			for i, s := range v.steps {
				mark := w.mark()
				if err := enc.encode(s.msg); err != nil {
					t.Fatalf("step %d: encode: %v", i, err)
				}
				goldenCheckWire(t, s, w.since(mark))
				if enc.state != s.state {
					t.Fatalf("step %d: encoder state = %+v, want %+v", i, enc.state, s.state)
				}
			}
			for _, stream := range v.streams() {
				dec := newMsgAppV2Decoder(bytes.NewReader(stream.bytes), goldenLocal, goldenRemote, defaultMaxMessageBytes)
				for i, s := range v.steps {
					name := fmt.Sprintf("%s step %d", stream.name, i)
					m, err := dec.decode()
					if err != nil {
						t.Fatalf("%s: decode: %v", name, err)
					}
					goldenCheckDecoded(t, name, s, m, stream.exact)
					if dec.state != s.state {
						t.Fatalf("%s: decoder state = %+v, want %+v", name, dec.state, s.state)
					}
				}
				if _, err := dec.decode(); err != io.EOF {
					t.Fatalf("%s: decode after the last record = %v, want EOF", stream.name, err)
				}
			}
		})
	}
	f.finish(t)
}

func TestCodecGoldenSnapshot(t *testing.T) {
	f := goldenLoad(t, goldenSnapshot)
	for _, v := range f.vectors {
		t.Run(v.name, func(t *testing.T) {
			s := v.only(t)
			frame, err := appendMessageFrame(nil, s.msg)
			if err != nil {
				t.Fatal(err)
			}
			goldenCheckWire(t, s, append(frame, s.db...))
			for _, enc := range s.encodings() {
				r := bytes.NewReader(enc.bytes)
				m, err := newMessageDecoder(r, defaultMaxSnapshotEnvelopeBytes).decode()
				if err != nil {
					t.Fatalf("%s: decode envelope: %v", enc.name, err)
				}
				goldenCheckDecoded(t, enc.name, s, m, enc.exact)
				if rest, _ := io.ReadAll(r); !bytes.Equal(rest, s.db) {
					t.Fatalf("%s: bytes after the envelope = %q, want %q", enc.name, rest, s.db)
				}
				goldenCheckSnapshotHandler(t, enc, s)
			}
		})
	}
	f.finish(t)
}

// goldenCheckSnapshotHandler POSTs one encoding to a fresh Transport's
// snapshot endpoint and checks what raft and the snap dir receive.
func goldenCheckSnapshotHandler(t *testing.T, enc goldenEncoding, s *goldenStep) {
	t.Helper()
	tm := goldenStartTransport(t)
	rec := tm.post(t, RaftSnapshotPrefix, enc.bytes)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("%s: POST %s = %d %q, want 204", enc.name, RaftSnapshotPrefix, rec.Code, rec.Body)
	}
	goldenCheckDecoded(t, enc.name+" via handler", s, tm.raft.take(t), enc.exact)
	path, err := tm.tr.Snapshotter.DBFilePath(s.msg.GetSnapshot().GetMetadata().GetIndex())
	if err != nil {
		t.Fatal(err)
	}
	if db, err := os.ReadFile(path); err != nil || !bytes.Equal(db, s.db) {
		t.Fatalf("%s: saved DB = %q, %v; want %q", enc.name, db, err, s.db)
	}
}

// goldenFile is one parsed testdata/golden file, kept line by line so that
// -rewrite can replace the wire lines and nothing else.
type goldenFile struct {
	codec   string
	path    string
	lines   []string
	vectors []*goldenVector
}

type goldenVector struct {
	name  string
	steps []*goldenStep
}

// goldenStep is one message of a vector and its encodings.
type goldenStep struct {
	msg           *raftpb.Message
	wire          []byte
	wireLine      int // index in goldenFile.lines
	dense         []byte
	hasDense      bool
	state         msgAppV2State
	db            []byte
	linkHeartbeat bool
}

// goldenEncoding is a byte string a decoder must read back as a step (or,
// for streams, as every step in turn). exact asks for proto.Equal; dense
// encodings are only equal by getters.
type goldenEncoding struct {
	name  string
	bytes []byte
	exact bool
}

func (s *goldenStep) encodings() []goldenEncoding {
	encs := []goldenEncoding{{name: "wire", bytes: s.wire, exact: true}}
	if s.hasDense {
		encs = append(encs, goldenEncoding{name: "dense", bytes: s.dense})
	}
	return encs
}

// streams returns the vector's steps concatenated as sparse, and as dense
// where a step has a dense form (sparse elsewhere).
func (v *goldenVector) streams() []goldenEncoding {
	var wire, dense []byte
	hasDense := false
	for _, s := range v.steps {
		wire = append(wire, s.wire...)
		if s.hasDense {
			dense, hasDense = append(dense, s.dense...), true
		} else {
			dense = append(dense, s.wire...)
		}
	}
	streams := []goldenEncoding{{name: "wire", bytes: wire, exact: true}}
	if hasDense {
		streams = append(streams, goldenEncoding{name: "dense", bytes: dense})
	}
	return streams
}

// only returns the single step of a vector whose codec has no stream.
func (v *goldenVector) only(t *testing.T) *goldenStep {
	t.Helper()
	if len(v.steps) != 1 {
		t.Fatalf("vector %s has %d messages, want 1", v.name, len(v.steps))
	}
	return v.steps[0]
}

func goldenLoad(t *testing.T, codec string) *goldenFile {
	t.Helper()
	path := filepath.Join("testdata", "golden", codec+".txt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := &goldenFile{codec: codec, path: path, lines: strings.Split(string(data), "\n")}
	for i, line := range f.lines {
		if err := f.parseLine(i, strings.TrimSpace(line)); err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
	}
	return f
}

func (f *goldenFile) parseLine(i int, line string) error {
	if line == "" || strings.HasPrefix(line, "#") {
		return nil
	}
	directive, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	if directive == "vector" {
		f.vectors = append(f.vectors, &goldenVector{name: arg})
		return nil
	}
	if len(f.vectors) == 0 {
		return fmt.Errorf("%s before the first vector", directive)
	}
	v := f.vectors[len(f.vectors)-1]
	if directive == "msg" {
		m := &raftpb.Message{}
		if err := prototext.Unmarshal([]byte(arg), m); err != nil {
			return err
		}
		v.steps = append(v.steps, &goldenStep{msg: m, wireLine: -1})
		return nil
	}
	if len(v.steps) == 0 {
		return fmt.Errorf("%s before the first msg", directive)
	}
	return v.steps[len(v.steps)-1].parseDirective(i, directive, arg)
}

func (s *goldenStep) parseDirective(i int, directive, arg string) error {
	var err error
	switch directive {
	case "wire":
		s.wire, err = goldenParseHex(arg)
		s.wireLine = i
	case "dense":
		s.dense, err = goldenParseHex(arg)
		s.hasDense = true
	case "state":
		_, err = fmt.Sscanf(arg, "%d %d", &s.state.term, &s.state.index)
	case "db":
		var db string
		db, err = strconv.Unquote(arg)
		s.db = []byte(db)
	case "linkheartbeat":
		s.linkHeartbeat = true
	default:
		err = fmt.Errorf("unknown directive %q", directive)
	}
	return err
}

func goldenParseHex(s string) ([]byte, error) {
	s = strings.NewReplacer(" ", "", "|", "").Replace(s)
	return hex.DecodeString(s)
}

// finish checks every step had a wire line and, with -rewrite, writes the
// file back with the wire lines regenerated.
func (f *goldenFile) finish(t *testing.T) {
	t.Helper()
	for _, v := range f.vectors {
		for i, s := range v.steps {
			if s.wireLine < 0 {
				t.Fatalf("%s: vector %s step %d has no wire line", f.path, v.name, i)
			}
			f.lines[s.wireLine] = strings.TrimRight("wire "+goldenFormat(f.codec, s.wire), " ")
		}
	}
	if !*goldenRewrite {
		return
	}
	if t.Failed() {
		t.Fatalf("not rewriting %s: the test failed", f.path)
	}
	if err := os.WriteFile(f.path, []byte(strings.Join(f.lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// goldenCheckWire compares what our encoder wrote for a step with the
// vector, or, with -rewrite, records it.
func goldenCheckWire(t *testing.T, s *goldenStep, got []byte) {
	t.Helper()
	if *goldenRewrite {
		s.wire = bytes.Clone(got)
		return
	}
	if !bytes.Equal(got, s.wire) {
		t.Fatalf("encoded\n got %x\nwant %x", got, s.wire)
	}
}

// goldenCheckDecoded compares a decoded message with the step's message:
// exactly, or by every getter for dense encodings.
func goldenCheckDecoded(t *testing.T, what string, s *goldenStep, got *raftpb.Message, exact bool) {
	t.Helper()
	if exact && !proto.Equal(got, s.msg) {
		t.Fatalf("%s: decoded %v, want exactly %v", what, got, s.msg)
	}
	if !goldenSameByGetters(got, s.msg) {
		t.Fatalf("%s: decoded %v, want by getters %v", what, got, s.msg)
	}
	if isLinkHeartbeat(got) != s.linkHeartbeat {
		t.Fatalf("%s: isLinkHeartbeat(%v) = %v, want %v", what, got, !s.linkHeartbeat, s.linkHeartbeat)
	}
}

// goldenSameByGetters reports whether two messages are equal when a field
// set to its zero value counts as unset, which is how gogoproto-era peers
// and every getter see them.
func goldenSameByGetters(a, b *raftpb.Message) bool {
	return proto.Equal(goldenWithoutZeros(a), goldenWithoutZeros(b))
}

// goldenWithoutZeros returns a copy of m with every zero-valued field, and
// every sub-message left empty by that, cleared.
func goldenWithoutZeros(m proto.Message) proto.Message {
	c := proto.Clone(m)
	goldenClearZeros(c.ProtoReflect())
	return c
}

func goldenClearZeros(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len(); i++ {
					goldenClearZeros(v.List().Get(i).Message())
				}
			}
		case fd.Message() != nil:
			goldenClearZeros(v.Message())
			if proto.Size(v.Message().Interface()) == 0 {
				m.Clear(fd)
			}
		case v.Equal(fd.Default()):
			m.Clear(fd)
		}
		return true
	})
}

// goldenFormat lays out an encoding for a wire line: lengths and counts
// apart from protobuf bytes, separated by "|".
func goldenFormat(codec string, b []byte) string {
	var p goldenPrinter
	p.rest = b
	switch codec {
	case goldenMessage:
		p.frame()
	case goldenSnapshot:
		p.frame()
		p.bytes(len(p.rest))
	case goldenMsgAppV2:
		p.record()
	default:
		p.bytes(len(p.rest))
	}
	if len(p.rest) > 0 { // malformed: show what is left as is
		p.bytes(len(p.rest))
	}
	return strings.Join(p.parts, " | ")
}

// goldenPrinter splits an encoding into the parts goldenFormat shows.
type goldenPrinter struct {
	rest  []byte
	parts []string
}

// be64 prints a big-endian length and returns its value, or -1 if the
// input ends first.
func (p *goldenPrinter) be64() int {
	if len(p.rest) < 8 {
		return -1
	}
	n := binary.BigEndian.Uint64(p.rest)
	p.parts = append(p.parts, hex.EncodeToString(p.rest[:8]))
	p.rest = p.rest[8:]
	return int(min(n, uint64(len(p.rest))))
}

// bytes prints the next n bytes separated by spaces.
func (p *goldenPrinter) bytes(n int) {
	if n <= 0 {
		return
	}
	s := make([]string, n)
	for i, c := range p.rest[:n] {
		s[i] = fmt.Sprintf("%02x", c)
	}
	p.parts = append(p.parts, strings.Join(s, " "))
	p.rest = p.rest[n:]
}

func (p *goldenPrinter) frame() {
	p.bytes(p.be64())
}

func (p *goldenPrinter) record() {
	if len(p.rest) == 0 {
		return
	}
	typ := p.rest[0]
	p.bytes(1)
	switch typ {
	case msgAppV2FullMessage:
		p.frame()
	case msgAppV2AppEntries:
		for n := p.be64(); n > 0 && len(p.rest) > 0; n-- {
			p.frame()
		}
		p.be64()
	}
}
