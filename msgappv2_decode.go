package rafthttp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
)

// msgAppV2Decoder reads records of the msgappv2 codec. Messages rebuilt
// from the fast path are addressed from remote to local.
type msgAppV2Decoder struct {
	r io.Reader
	// br is r when it is buffered: fast-path records found whole in its
	// buffer are decoded in place.
	br            *bufio.Reader
	local, remote uint64
	limit         uint64
	state         msgAppV2State
	lenBuf        [8]byte
	scratch       []byte
	// spans are the current record's entries, each its protobuf bytes;
	// ends is where each entry ends in scratch on the general path.
	spans [][]byte
	ends  []int
	size  int
	// layouts holds the chunks small single-entry messages come from;
	// empty those of MsgApps without entries (see boxChunkLen).
	layouts oneEntryLayouts[appBox]
	empty   slabChunk[appBox]
}

func newMsgAppV2Decoder(r io.Reader, local, remote uint64, limit uint64) *msgAppV2Decoder {
	br, _ := r.(*bufio.Reader)
	return &msgAppV2Decoder{r: r, br: br, local: local, remote: remote, limit: limit,
		layouts: oneEntryLayouts[appBox]{perChunk: slabChunkLen}}
}

func (dec *msgAppV2Decoder) decode() (*raftpb.Message, error) {
	if dec.br != nil {
		if m, ok, err := dec.decodeBuffered(); ok || err != nil {
			return m, err
		}
	}
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

// decodeBuffered decodes a fast-path record that already sits whole in
// the read buffer, without reading it out piece by piece. It reports
// false, having consumed nothing, for any other record; the general path
// then reads it and reports its errors.
func (dec *msgAppV2Decoder) decodeBuffered() (*raftpb.Message, bool, error) {
	if dec.br.Buffered() == 0 {
		// Wait for the next read, so that the record lands in the buffer.
		if _, err := dec.br.Peek(1); err != nil {
			return nil, false, err
		}
	}
	buf, _ := dec.br.Peek(dec.br.Buffered())
	spans, end, ok := dec.bufferedEntries(buf)
	if !ok {
		return nil, false, nil
	}
	commit := binary.BigEndian.Uint64(buf[end-8 : end])
	m, err := dec.buildApp(spans, nil, commit)
	if err != nil {
		return nil, true, err
	}
	_, err = dec.br.Discard(end)
	return m, true, err
}

// bufferedEntries parses an AppEntries record at the start of buf, within
// the decoder's limits. It returns the entries and where the record ends,
// or false if buf does not hold such a record whole.
func (dec *msgAppV2Decoder) bufferedEntries(buf []byte) (spans [][]byte, end int, ok bool) {
	if len(buf) < 1+8+8 || buf[0] != msgAppV2AppEntries {
		return nil, 0, false
	}
	count := binary.BigEndian.Uint64(buf[1:9])
	if count > dec.limit/8 || count > uint64(len(buf)) {
		return nil, 0, false
	}
	off, budget := 9, dec.limit
	spans = dec.spans[:0]
	for range count {
		if budget < entryOverhead || len(buf)-off < 8 {
			return nil, 0, false
		}
		budget -= entryOverhead
		n := binary.BigEndian.Uint64(buf[off:])
		off += 8
		if n > budget || n > uint64(len(buf)-off) {
			return nil, 0, false
		}
		budget -= n
		spans = append(spans, buf[off:off+int(n)])
		off += int(n)
	}
	if len(buf)-off < 8 {
		return nil, 0, false
	}
	dec.spans = spans
	return spans, off + 8, true
}

func (dec *msgAppV2Decoder) decodeFull() (*raftpb.Message, error) {
	// The type byte is read: an EOF from here on is mid-record.
	payload, err := readFrame(dec.r, &dec.lenBuf, dec.scratch, dec.limit)
	if err != nil {
		return nil, noEOF(err)
	}
	keepScratch(&dec.scratch, payload)
	dec.size = len(payload)
	m, err := decodeMessage(payload, nil)
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
	raw, spans, err := dec.readEntries(count)
	if err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(dec.r, dec.lenBuf[:]); err != nil {
		return nil, noEOF(err)
	}
	return dec.buildApp(spans, raw, binary.BigEndian.Uint64(dec.lenBuf[:]))
}

// buildApp rebuilds the MsgApp of a fast-path record from its entries and
// commit. raw, if set, holds every entry back to back in a buffer of the
// decoder's own, which a large record hands over to the message.
func (dec *msgAppV2Decoder) buildApp(spans [][]byte, raw []byte, commit uint64) (*raftpb.Message, error) {
	var d slabs
	box, ok := dec.oneSmallEntry(spans, raw, &d)
	if !ok {
		box = dec.entrySlabs(spans, raw, &d)
		if err := d.decodeEntries(spans); err != nil {
			return nil, fmt.Errorf("rafthttp: unmarshal msgappv2 entry: %w", err)
		}
	}
	box.typ, box.from, box.to = raftpb.MsgApp, dec.remote, dec.local
	box.term, box.logTerm, box.index = dec.state.term, dec.state.term, dec.state.index
	box.commit = commit
	dec.state.index += uint64(len(spans))
	m := &box.msg
	m.Type, m.From, m.To = &box.typ, &box.from, &box.to
	m.Term, m.LogTerm, m.Index, m.Commit = &box.term, &box.logTerm, &box.index, &box.commit
	m.Entries = d.ptrs
	if m.Entries == nil {
		m.Entries = []*raftpb.Entry{}
	}
	dec.size = appHeaderSize(m)
	for _, e := range spans {
		dec.size += lengthDelimitedSize(len(e))
	}
	dec.releaseSpans(d.alias)
	return m, nil
}

// releaseSpans keeps the span list for the next record, unless it is too
// large to pin. Spans into the read buffer or scratch pin nothing that
// is not kept anyway; spans into a buffer handed to the message (handed)
// are cleared so that they do not keep it alive.
func (dec *msgAppV2Decoder) releaseSpans(handed bool) {
	if cap(dec.spans) > maxKeptEnds {
		dec.spans = nil
		return
	}
	if handed {
		clear(dec.spans)
	}
	dec.spans = dec.spans[:0]
}

func (dec *msgAppV2Decoder) lastSize() int { return dec.size }

// oneSmallEntry decodes the common record, a single entry with its bytes
// in the slab, parsing it once to size the smallest layout that holds its
// data. It reports false for anything else.
func (dec *msgAppV2Decoder) oneSmallEntry(spans [][]byte, raw []byte, d *slabs) (*appBox, bool) {
	if len(spans) != 1 || len(spans[0]) >= ownCopyBytes || dec.handsOver(raw) {
		return nil, false
	}
	f, ok := parseEntry(spans[0])
	if !ok {
		return nil, false
	}
	box := dec.layouts.alloc(len(f.data), d)
	d.placeEntry(&f)
	d.ptrs[0] = &d.entries[0].entry
	return box, true
}

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

// handsOver reports whether the message takes raw, the record read on the
// general path, as it is: too large for the decoder to keep as scratch,
// raw is already a fresh buffer, and copying out of it would be wasted.
func (dec *msgAppV2Decoder) handsOver(raw []byte) bool {
	return len(raw) > 0 && dec.scratch == nil
}

// entrySlabs prepares the memory of a message with the entries in spans,
// setting d to its slabs. raw, on the general path, holds them back to
// back.
func (dec *msgAppV2Decoder) entrySlabs(spans [][]byte, raw []byte, d *slabs) *appBox {
	if dec.handsOver(raw) {
		box := newMessageSlabs(len(spans), 0, d, nil)
		d.alias = true
		return &box.appBox
	}
	byteLen := 0
	for _, e := range spans {
		if len(e) < ownCopyBytes {
			byteLen += len(e)
		}
	}
	d.ownFrom = ownCopyBytes
	switch len(spans) {
	case 0: // a MsgApp that only advances the commit index (or probes)
		return dec.empty.next(emptyAppChunkLen)
	case 1:
		return dec.layouts.alloc(byteLen, d) // from a chunk, like small ones
	}
	return &newMessageSlabs(len(spans), byteLen, d, nil).appBox
}

// appHeaderSize is the protobuf size of the fields an AppEntries record
// carries implicitly: a MsgApp's type, addresses, term, index and commit.
func appHeaderSize(m *raftpb.Message) int {
	return optVarintSize(true, uint64(raftpb.MsgApp)) +
		optUint64Size(m.To) + optUint64Size(m.From) + optUint64Size(m.Term) +
		optUint64Size(m.LogTerm) + optUint64Size(m.Index) + optUint64Size(m.Commit)
}

// maxKeptEnds is the most entry spans or ends a decoder keeps between
// records.
const maxKeptEnds = 4096

// entryOverhead is what one decoded entry costs in memory beyond its
// bytes; charging it keeps a flood of empty entries within the limit.
const entryOverhead = 64

// readEntries reads count length-prefixed entries whose sizes, plus
// entryOverhead each, add up to at most the decoder's limit. It returns
// their bytes back to back in raw, and each entry as a span of raw.
func (dec *msgAppV2Decoder) readEntries(count uint64) (raw []byte, spans [][]byte, err error) {
	raw, ends := dec.scratch[:0], dec.ends[:0]
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
	keepScratch(&dec.scratch, raw)
	dec.ends = ends
	if cap(ends) > maxKeptEnds {
		dec.ends = nil // used for this record only, not pinned afterwards
	}
	spans, start := dec.spans[:0], 0
	for _, end := range ends {
		spans = append(spans, raw[start:end:end])
		start = end
	}
	dec.spans = spans
	return raw, spans, nil
}
