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
	keepScratch(&enc.buf, buf)
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
