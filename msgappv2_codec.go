package rafthttp

import (
	"encoding/binary"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
)

// The "msgappv2" stream codec. Each record starts with a type byte:
//
//	0x00 link heartbeat   (nothing follows)
//	0x01 AppEntries       BE64 count, count × (BE64 size, size bytes of
//	                      raftpb.Entry), BE64 commit
//	0x02 full MsgApp      BE64 size, size bytes of raftpb.Message
//
// AppEntries is the fast path: a MsgApp that continues exactly where the
// previous one on this connection ended (same term, next index) is sent as
// its entries and commit only. Both ends therefore track (term, index) per
// connection, starting from (0, 0); a new connection means a new encoder
// and a new decoder.
const (
	msgAppV2LinkHeartbeat byte = 0
	msgAppV2AppEntries    byte = 1
	msgAppV2FullMessage   byte = 2
)

// msgAppV2State is the (term, index) both ends of a connection agree on.
type msgAppV2State struct {
	term, index uint64
}

// advance records a full MsgApp: its term and the index of its last entry,
// or its own index when it carries none.
func (s *msgAppV2State) advance(m *raftpb.Message) {
	s.term = m.GetTerm()
	s.index = m.GetIndex()
	if n := len(m.GetEntries()); n > 0 {
		s.index = m.GetEntries()[n-1].GetIndex()
	}
}

// msgAppV2Encoder writes records of the msgappv2 codec.
type msgAppV2Encoder struct {
	w     io.Writer
	state msgAppV2State
	buf   []byte
	size  int
}

func newMsgAppV2Encoder(w io.Writer) *msgAppV2Encoder {
	return &msgAppV2Encoder{w: w}
}

func (enc *msgAppV2Encoder) lastSize() int { return enc.size }

// encode writes one record, with a single Write call unless an entry's
// Data is written by reference (see writeData).
func (enc *msgAppV2Encoder) encode(m *raftpb.Message) error {
	buf, err := enc.appendRecord(enc.buf[:0], m)
	if err != nil {
		return err
	}
	enc.buf = keepScratch(buf)
	_, err = enc.w.Write(buf)
	return err
}

func (enc *msgAppV2Encoder) appendRecord(dst []byte, m *raftpb.Message) ([]byte, error) {
	switch {
	case isLinkHeartbeat(m):
		enc.size = linkHeartbeatSize
		return append(dst, msgAppV2LinkHeartbeat), nil
	case enc.continuesStream(m):
		return enc.appendEntries(dst, m)
	default:
		return enc.appendFull(dst, m)
	}
}

// continuesStream reports whether m can take the fast path.
func (enc *msgAppV2Encoder) continuesStream(m *raftpb.Message) bool {
	return enc.state.index == m.GetIndex() &&
		enc.state.term == m.GetLogTerm() &&
		m.GetLogTerm() == m.GetTerm()
}

func (enc *msgAppV2Encoder) appendEntries(dst []byte, m *raftpb.Message) ([]byte, error) {
	entries := m.GetEntries()
	dst = append(dst, msgAppV2AppEntries)
	dst = binary.BigEndian.AppendUint64(dst, uint64(len(entries)))
	enc.size = appHeaderSize(m)
	for _, e := range entries {
		start := len(dst) + 8
		var err error
		if writeDataDirectly(e) {
			dst, err = enc.appendLargeEntry(dst, e)
			if err != nil {
				return nil, err
			}
			enc.size += lengthDelimitedSize(entrySize(e))
			continue
		}
		if dst, err = appendEntryRecord(dst, e); err != nil {
			return nil, fmt.Errorf("rafthttp: marshal entry: %w", err)
		}
		enc.size += lengthDelimitedSize(len(dst) - start)
	}
	enc.state.index += uint64(len(entries))
	return binary.BigEndian.AppendUint64(dst, m.GetCommit()), nil
}

// directDataBytes is the Data size from which the encoder writes an
// entry's Data straight from the entry instead of copying it into the
// record first.
const directDataBytes = 8 << 10

// writeDataDirectly reports whether e's Data is written by reference.
func writeDataDirectly(e *raftpb.Entry) bool {
	return e != nil && len(e.Data) >= directDataBytes && len(e.ProtoReflect().GetUnknown()) == 0
}

// appendLargeEntry encodes e, whose Data is written by reference: it
// writes the record so far with e's size and head, then e.Data, and
// returns dst emptied for the rest of the record. The stream is a byte
// stream: how a record is split across Writes does not change it.
func (enc *msgAppV2Encoder) appendLargeEntry(dst []byte, e *raftpb.Entry) ([]byte, error) {
	dst = binary.BigEndian.AppendUint64(dst, uint64(entrySize(e)))
	dst = appendEntryHead(dst, e)
	if _, err := enc.w.Write(dst); err != nil {
		return nil, err
	}
	if _, err := enc.w.Write(e.Data); err != nil {
		return nil, err
	}
	return dst[:0], nil
}

func (enc *msgAppV2Encoder) appendFull(dst []byte, m *raftpb.Message) ([]byte, error) {
	dst = append(dst, msgAppV2FullMessage)
	start := len(dst) + 8 // after the frame's length
	dst, err := appendMessageFrame(dst, m)
	if err != nil {
		return nil, err
	}
	enc.size = len(dst) - start
	enc.state.advance(m)
	return dst, nil
}

// msgAppV2Decoder reads records of the msgappv2 codec. Messages rebuilt
// from the fast path are addressed from remote to local.
type msgAppV2Decoder struct {
	r             io.Reader
	local, remote uint64
	limit         uint64
	state         msgAppV2State
	lenBuf        [8]byte
	scratch       []byte
	ends          []int
	size          int
}

func newMsgAppV2Decoder(r io.Reader, local, remote uint64, limit uint64) *msgAppV2Decoder {
	return &msgAppV2Decoder{r: r, local: local, remote: remote, limit: limit}
}

func (dec *msgAppV2Decoder) decode() (*raftpb.Message, error) {
	if _, err := io.ReadFull(dec.r, dec.lenBuf[:1]); err != nil {
		return nil, err
	}
	switch typ := dec.lenBuf[0]; typ {
	case msgAppV2LinkHeartbeat:
		dec.size = linkHeartbeatSize
		return linkHeartbeat(), nil
	case msgAppV2AppEntries:
		return dec.decodeEntries()
	case msgAppV2FullMessage:
		return dec.decodeFull()
	default:
		return nil, fmt.Errorf("failed to parse type %d in msgappv2 stream", typ)
	}
}

func (dec *msgAppV2Decoder) decodeFull() (*raftpb.Message, error) {
	n, err := readLength(dec.r, &dec.lenBuf, dec.limit)
	if err != nil {
		return nil, noEOF(err)
	}
	payload, err := readPayload(dec.r, dec.scratch, n)
	if err != nil {
		return nil, err
	}
	dec.scratch, dec.size = keepScratch(payload), len(payload)
	m, err := decodeMessage(payload)
	if err != nil {
		return nil, fmt.Errorf("rafthttp: unmarshal msgappv2 message: %w", err)
	}
	dec.state.advance(m)
	return m, nil
}

func (dec *msgAppV2Decoder) decodeEntries() (*raftpb.Message, error) {
	// Every entry costs at least its 8-byte size on the wire, which bounds
	// a count that could otherwise size an allocation from hostile input.
	count, err := readLength(dec.r, &dec.lenBuf, dec.limit/8)
	if err != nil {
		return nil, noEOF(err)
	}
	raw, ends, err := dec.readEntries(count)
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(dec.r, dec.lenBuf[:]); err != nil {
		return nil, noEOF(err)
	}
	box, d := dec.entrySlabs(raw, ends)
	if err := d.decodeEntries(raw, ends); err != nil {
		return nil, fmt.Errorf("rafthttp: unmarshal msgappv2 entry: %w", err)
	}
	box.typ, box.from, box.to = raftpb.MsgApp, dec.remote, dec.local
	box.term, box.logTerm, box.index = dec.state.term, dec.state.term, dec.state.index
	box.commit = binary.BigEndian.Uint64(dec.lenBuf[:])
	dec.state.index += count
	m := &box.msg
	m.Type, m.From, m.To = &box.typ, &box.from, &box.to
	m.Term, m.LogTerm, m.Index, m.Commit = &box.term, &box.logTerm, &box.index, &box.commit
	m.Entries = d.ptrs
	if m.Entries == nil {
		m.Entries = []*raftpb.Entry{}
	}
	dec.size = appHeaderSize(m)
	start := 0
	for _, end := range ends {
		dec.size += lengthDelimitedSize(end - start)
		start = end
	}
	return m, nil
}

func (dec *msgAppV2Decoder) lastSize() int { return dec.size }

// ownCopyBytes is the entry size from which an entry's Data gets an
// allocation of its own rather than a place in the message's byte slab.
//
// Fresh memory is what a large message costs most: allocating, zeroing and
// first touching it. An own copy is allocated by append, which does not
// zero, and is exactly as large as the data, where a slab (or a buffer the
// record could be read into directly) is zeroed first and rounded up with
// the entry's header to the next 8 KiB page. The record itself is read into
// the decoder's scratch, which stays in cache.
const ownCopyBytes = 16 << 10

// entrySlabs prepares the memory of a message whose entries were read into
// raw, the i-th ending at ends[i].
func (dec *msgAppV2Decoder) entrySlabs(raw []byte, ends []int) (*messageBox, slabs) {
	if dec.scratch == nil && len(raw) > 0 {
		// Too large for the decoder to keep: raw is already a fresh buffer
		// that the message can take instead of copying it.
		box, d := newMessageSlabs(len(ends), 0)
		d.alias = true
		return box, d
	}
	slab, start := 0, 0
	for _, end := range ends {
		if end-start < ownCopyBytes {
			slab += end - start
		}
		start = end
	}
	box, d := newMessageSlabs(len(ends), slab)
	d.ownFrom = ownCopyBytes
	return box, d
}

// appHeaderSize is the protobuf size of the fields an AppEntries record
// carries implicitly: a MsgApp's type, addresses, term, index and commit.
func appHeaderSize(m *raftpb.Message) int {
	return optVarintSize(true, uint64(raftpb.MsgApp)) +
		optUint64Size(m.To) + optUint64Size(m.From) + optUint64Size(m.Term) +
		optUint64Size(m.LogTerm) + optUint64Size(m.Index) + optUint64Size(m.Commit)
}

// maxKeptEnds is the most entry offsets a decoder keeps between records.
const maxKeptEnds = 4096

// entryOverhead is what one decoded entry costs in memory beyond its
// bytes; charging it keeps a flood of empty entries within the limit.
const entryOverhead = 64

// readEntries reads count length-prefixed entries whose sizes, plus
// entryOverhead each, add up to at most the decoder's limit. It returns
// their bytes back to back, the i-th ending at ends[i].
func (dec *msgAppV2Decoder) readEntries(count uint64) (raw []byte, ends []int, err error) {
	ends, raw = dec.ends[:0], dec.scratch[:0]
	budget := dec.limit
	for range count {
		if budget < entryOverhead {
			return nil, nil, ErrExceedSizeLimit
		}
		budget -= entryOverhead
		var n uint64
		n, err = readLength(dec.r, &dec.lenBuf, budget)
		if err != nil {
			return nil, nil, noEOF(err)
		}
		budget -= n
		if raw, err = appendPayload(dec.r, raw, n); err != nil {
			return nil, nil, err
		}
		ends = append(ends, len(raw))
	}
	dec.scratch, dec.ends = keepScratch(raw), ends
	if cap(ends) > maxKeptEnds {
		dec.ends = nil // used for this record only, not pinned afterwards
	}
	return raw, ends, nil
}
