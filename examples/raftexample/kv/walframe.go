package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The log is a sequence of frames:
//
//	offset  size  field
//	0       4     n, the payload length, little-endian; 1 <= n <= maxFrameBytes
//	4       4     CRC-32C (Castagnoli) of the payload, little-endian
//	8       n     payload: a sequence of items
//
// and each item is:
//
//	offset  size      field
//	0       1         kind: itemSnapshot, itemHardState or itemEntry
//	1       varint    m, the body length (unsigned LEB128)
//	1+len   m         body: the raftpb SnapshotMetadata, HardState or Entry
//
// One Save writes one frame (more only if it would exceed maxFrameBytes),
// then fsyncs. Items are replayed in order: a snapshot discards every entry
// before it, a hard state replaces the previous one, and an entry replaces
// the entry at its index and everything after it.
const (
	frameHeaderBytes = 8
	// maxFrameBytes bounds one frame. A raft entry here is at most a 1 MiB
	// value plus its key, so 64 MiB leaves room for a large batch while
	// making a garbage length in a torn header easy to recognise.
	maxFrameBytes = 64 << 20
)

// Item kinds.
const (
	itemSnapshot  byte = 1
	itemHardState byte = 2
	itemEntry     byte = 3
)

// crcTable is the Castagnoli table (crc32 builds it once and shares it).
func crcTable() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// errBadFrame marks a frame that is incomplete or fails its CRC: a torn
// write if nothing valid follows it.
var errBadFrame = errors.New("bad frame")

// encodeFrames returns the frames holding meta (if not nil), ents and hs
// (if not nil), in that order.
func encodeFrames(meta *raftpb.SnapshotMetadata, hs *raftpb.HardState, ents []*raftpb.Entry) ([]byte, error) {
	items := make([]item, 0, len(ents)+2)
	if meta != nil {
		items = append(items, item{itemSnapshot, meta})
	}
	for _, e := range ents {
		items = append(items, item{itemEntry, e})
	}
	if hs != nil {
		items = append(items, item{itemHardState, hs})
	}
	var buf []byte
	start := 0
	for _, it := range items {
		size := proto.Size(it.msg)
		need := 1 + binary.MaxVarintLen64 + size
		if need > maxFrameBytes {
			return nil, fmt.Errorf("kv: WAL record of %d bytes exceeds %d", size, maxFrameBytes)
		}
		if len(buf) == start || len(buf)-start-frameHeaderBytes+need > maxFrameBytes {
			buf = sealFrame(buf, start)
			start = len(buf)
			buf = append(buf, make([]byte, frameHeaderBytes)...)
		}
		buf = append(buf, it.kind)
		buf = binary.AppendUvarint(buf, uint64(size))
		var err error
		if buf, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(buf, it.msg); err != nil {
			return nil, fmt.Errorf("kv: encoding WAL record: %w", err)
		}
	}
	return sealFrame(buf, start), nil
}

type item struct {
	kind byte
	msg  proto.Message
}

// sealFrame fills in the header of the frame starting at start, if any.
func sealFrame(buf []byte, start int) []byte {
	if len(buf)-start < frameHeaderBytes {
		return buf
	}
	payload := buf[start+frameHeaderBytes:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, crcTable()))
	return buf
}

// frameReader reads frames and tracks the offset of the next one.
type frameReader struct {
	r   *bufio.Reader
	off int64
}

// next returns the next payload; io.EOF at a clean end; errBadFrame for an
// incomplete frame or a CRC mismatch (sane reports whether the frame's
// length was plausible, so that reading can resume after it).
func (fr *frameReader) next() (payload []byte, sane bool, err error) {
	var hdr [frameHeaderBytes]byte
	n, err := io.ReadFull(fr.r, hdr[:])
	if err == io.EOF {
		return nil, false, io.EOF
	}
	fr.off += int64(n)
	if err != nil {
		return nil, false, errBadFrame
	}
	size := binary.LittleEndian.Uint32(hdr[:4])
	if size == 0 || size > maxFrameBytes {
		return nil, false, errBadFrame
	}
	payload = make([]byte, size)
	n, err = io.ReadFull(fr.r, payload)
	fr.off += int64(n)
	if err != nil {
		return nil, false, errBadFrame
	}
	if crc32.Checksum(payload, crcTable()) != binary.LittleEndian.Uint32(hdr[4:]) {
		return nil, true, errBadFrame
	}
	return payload, true, nil
}

// replay reads r to its end and returns the state it holds and the offset
// just past the last good frame. A bad frame with nothing valid after it
// is a torn write and ends the log; a bad frame followed by a valid one is
// corruption.
func replay(r io.Reader) (*WALState, int64, error) {
	st := &WALState{}
	fr := &frameReader{r: bufio.NewReaderSize(r, 1<<20)}
	for {
		start := fr.off
		payload, sane, err := fr.next()
		switch {
		case err == io.EOF:
			return st, start, nil
		case err != nil && sane && validFrameFollows(fr):
			return nil, 0, fmt.Errorf("%w: frame at offset %d fails its checksum but later frames are intact", ErrCorrupt, start)
		case err != nil:
			return st, start, nil
		}
		if err := st.applyPayload(payload); err != nil {
			return nil, 0, fmt.Errorf("%w: frame at offset %d: %w", ErrCorrupt, start, err)
		}
	}
}

// validFrameFollows reports whether any intact frame can be found after
// the current position, skipping frames that fail their checksum.
func validFrameFollows(fr *frameReader) bool {
	for {
		_, sane, err := fr.next()
		if err == nil {
			return true
		}
		if !sane {
			return false
		}
	}
}

// applyPayload replays the items of one frame.
func (st *WALState) applyPayload(p []byte) error {
	for len(p) > 0 {
		kind := p[0]
		size, n := binary.Uvarint(p[1:])
		if n <= 0 || size > uint64(len(p)-1-n) {
			return errors.New("malformed item header")
		}
		body := p[1+n : 1+n+int(size)]
		p = p[1+n+int(size):]
		if err := st.applyItem(kind, body); err != nil {
			return err
		}
	}
	return nil
}

func (st *WALState) applyItem(kind byte, body []byte) error {
	switch kind {
	case itemSnapshot:
		m := &raftpb.SnapshotMetadata{}
		if err := proto.Unmarshal(body, m); err != nil {
			return fmt.Errorf("snapshot record: %w", err)
		}
		st.Snapshot, st.Entries = m, nil
	case itemHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(body, hs); err != nil {
			return fmt.Errorf("hard state record: %w", err)
		}
		st.HardState = hs
	case itemEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(body, e); err != nil {
			return fmt.Errorf("entry record: %w", err)
		}
		return st.appendEntry(e)
	default:
		return fmt.Errorf("unknown record kind %d", kind)
	}
	return nil
}

// appendEntry adds e, replacing any entries from its index on. An entry
// at or before the snapshot is skipped; a gap is an error.
func (st *WALState) appendEntry(e *raftpb.Entry) error {
	idx := e.GetIndex()
	if idx <= st.Snapshot.GetIndex() {
		return nil
	}
	next := st.Snapshot.GetIndex() + 1
	if len(st.Entries) > 0 {
		first := st.Entries[0].GetIndex()
		next = first + uint64(len(st.Entries))
		if idx < next {
			st.Entries = st.Entries[:idx-first]
			next = idx
		}
	}
	if idx != next {
		return fmt.Errorf("entry %d follows entry %d", idx, next-1)
	}
	st.Entries = append(st.Entries, e)
	return nil
}
