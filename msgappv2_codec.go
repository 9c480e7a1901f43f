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

// encode writes one record with a single Write call.
func (enc *msgAppV2Encoder) encode(m *raftpb.Message) error {
	buf, err := enc.appendRecord(enc.buf[:0], m)
	if err != nil {
		return err
	}
	if buf[0] == msgAppV2FullMessage {
		enc.size = len(buf) - 9
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
		if dst, err = appendEntryRecord(dst, e); err != nil {
			return nil, fmt.Errorf("rafthttp: marshal entry: %w", err)
		}
		enc.size += lengthDelimitedSize(len(dst) - start)
	}
	enc.state.index += uint64(len(entries))
	return binary.BigEndian.AppendUint64(dst, m.GetCommit()), nil
}

func (enc *msgAppV2Encoder) appendFull(dst []byte, m *raftpb.Message) ([]byte, error) {
	dst = append(dst, msgAppV2FullMessage)
	dst, err := appendMessageFrame(dst, m)
	if err != nil {
		return nil, err
	}
	enc.state.advance(m)
	return dst, nil
}
