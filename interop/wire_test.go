package interop

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// recordKind is the shape of one record on a stream.
type recordKind int

const (
	// kindFrame is a frame of the message stream: BE64 size, then a
	// protobuf Message.
	kindFrame recordKind = iota
	// kindAppEntries is a msgappv2 0x01 record, the fast path: entries and
	// a commit index, everything else implied by the connection state.
	kindAppEntries
	// kindFullMsgApp is a msgappv2 0x02 record: BE64 size, then a protobuf
	// Message.
	kindFullMsgApp
)

// String names the record kind for failure messages.
func (k recordKind) String() string {
	switch k {
	case kindAppEntries:
		return "AppEntries(0x01)"
	case kindFullMsgApp:
		return "MsgApp(0x02)"
	default:
		return "frame"
	}
}

// Record type bytes of the msgappv2 stream.
const (
	msgAppV2LinkHeartbeat = 0x00
	msgAppV2AppEntries    = 0x01
	msgAppV2Full          = 0x02
)

// maxRecordPart bounds one size field, so a corrupt stream cannot make the
// parser wait for gigabytes.
const maxRecordPart = 64 << 20

// wireRecord is one non-heartbeat record seen on a stream.
type wireRecord struct {
	kind recordKind
	// msg is set for kindFrame and kindFullMsgApp.
	msg *raftpb.Message
	// entries and commit are set for kindAppEntries.
	entries []*raftpb.Entry
	commit  uint64
}

// commitIndex returns the commit the record carries.
func (r wireRecord) commitIndex() uint64 {
	if r.msg != nil {
		return r.msg.GetCommit()
	}
	return r.commit
}

// frameParser decodes the bytes written to one stream response. It is
// written from the protocol description, independently of both
// implementations, and tolerates records split across writes.
type frameParser struct {
	kind       streamKind
	buf        []byte
	records    []wireRecord
	heartbeats int
	err        error
}

// feed appends b and decodes every complete record.
func (p *frameParser) feed(b []byte) {
	if p.err != nil {
		return
	}
	p.buf = append(p.buf, b...)
	for {
		var n int
		var ok bool
		if p.kind == streamMsgAppV2 {
			n, ok = p.nextMsgAppV2()
		} else {
			n, ok = p.nextFrame()
		}
		if !ok || p.err != nil {
			break
		}
		p.buf = p.buf[n:]
	}
	if len(p.buf) == 0 {
		p.buf = nil
	}
}

// sized reads a BE64 size at off and reports whether the size and the
// bytes it announces are all buffered.
func (p *frameParser) sized(off int) (size int, ok bool) {
	if len(p.buf) < off+8 {
		return 0, false
	}
	s := binary.BigEndian.Uint64(p.buf[off:])
	if s > maxRecordPart {
		p.err = fmt.Errorf("record part of %d bytes", s)
		return 0, false
	}
	return int(s), len(p.buf) >= off+8+int(s)
}

// nextFrame decodes one message-stream frame.
func (p *frameParser) nextFrame() (int, bool) {
	size, ok := p.sized(0)
	if !ok {
		return 0, false
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(p.buf[8:8+size], m); err != nil {
		p.err = fmt.Errorf("message frame: %w", err)
		return 0, false
	}
	if m.GetType() == raftpb.MsgHeartbeat && m.GetFrom() == 0 && m.GetTo() == 0 {
		p.heartbeats++
	} else {
		p.records = append(p.records, wireRecord{kind: kindFrame, msg: m})
	}
	return 8 + size, true
}

// nextMsgAppV2 decodes one msgappv2 record.
func (p *frameParser) nextMsgAppV2() (int, bool) {
	if len(p.buf) == 0 {
		return 0, false
	}
	switch p.buf[0] {
	case msgAppV2LinkHeartbeat:
		p.heartbeats++
		return 1, true
	case msgAppV2AppEntries:
		return p.nextAppEntries()
	case msgAppV2Full:
		size, ok := p.sized(1)
		if !ok {
			return 0, false
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(p.buf[9:9+size], m); err != nil {
			p.err = fmt.Errorf("msgappv2 full record: %w", err)
			return 0, false
		}
		p.records = append(p.records, wireRecord{kind: kindFullMsgApp, msg: m})
		return 9 + size, true
	default:
		p.err = fmt.Errorf("msgappv2 record type %#x", p.buf[0])
		return 0, false
	}
}

// nextAppEntries decodes a 0x01 record: BE64 count, count times (BE64
// size, Entry), BE64 commit.
func (p *frameParser) nextAppEntries() (int, bool) {
	if len(p.buf) < 9 {
		return 0, false
	}
	count := binary.BigEndian.Uint64(p.buf[1:])
	if count > maxRecordPart {
		p.err = fmt.Errorf("AppEntries with %d entries", count)
		return 0, false
	}
	off := 9
	entries := make([]*raftpb.Entry, 0, count)
	for range count {
		size, ok := p.sized(off)
		if !ok {
			return 0, false
		}
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(p.buf[off+8:off+8+size], e); err != nil {
			p.err = fmt.Errorf("AppEntries entry: %w", err)
			return 0, false
		}
		entries = append(entries, e)
		off += 8 + size
	}
	if len(p.buf) < off+8 {
		return 0, false
	}
	commit := binary.BigEndian.Uint64(p.buf[off:])
	p.records = append(p.records, wireRecord{kind: kindAppEntries, entries: entries, commit: commit})
	return off + 8, true
}
