package rafthttp

import (
	"encoding/binary"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
)

// The "message" stream codec. Every frame is
//
//	+----------------+----------------------------------+
//	| BE64 length n  | n bytes: raftpb.Message protobuf |
//	+----------------+----------------------------------+
//
// with frames back to back and no trailer. The link heartbeat is
// 00 00 00 00 00 00 00 02 08 08. The snapshot POST body starts with one
// frame of this codec, followed by the raw DB bytes.

// messageEncoder writes frames of the message codec.
type messageEncoder struct {
	w    io.Writer
	buf  []byte
	size int
}

func newMessageEncoder(w io.Writer) *messageEncoder {
	return &messageEncoder{w: w}
}

// encode writes one frame with a single Write call.
func (enc *messageEncoder) encode(m *raftpb.Message) error {
	buf, err := appendMessageFrame(enc.buf[:0], m)
	if err != nil {
		return err
	}
	keepScratch(&enc.buf, buf)
	enc.size = len(buf) - 8
	_, err = enc.w.Write(buf)
	return err
}

func (enc *messageEncoder) lastSize() int { return enc.size }

// appendMessageFrame appends m's length prefix and protobuf bytes to dst.
func appendMessageFrame(dst []byte, m *raftpb.Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, 8)...)
	dst, err := appendMessage(dst, m)
	if err != nil {
		return nil, fmt.Errorf("rafthttp: marshal %v: %w", m.GetType(), err)
	}
	binary.BigEndian.PutUint64(dst[start:], uint64(len(dst)-start-8))
	return dst, nil
}

// messageDecoder reads frames of the message codec, refusing any frame
// longer than limit.
type messageDecoder struct {
	r       io.Reader
	limit   uint64
	lenBuf  [8]byte
	scratch []byte
	size    int
}

func newMessageDecoder(r io.Reader, limit uint64) *messageDecoder {
	return &messageDecoder{r: r, limit: limit}
}

// decode reads one frame. Decoded messages never alias the input, so the
// scratch buffer can be reused for the next frame.
func (dec *messageDecoder) decode() (*raftpb.Message, error) {
	payload, err := readFrame(dec.r, &dec.lenBuf, dec.scratch, dec.limit)
	if err != nil {
		return nil, err
	}
	keepScratch(&dec.scratch, payload)
	dec.size = len(payload)
	m, err := decodeMessage(payload)
	if err != nil {
		return nil, fmt.Errorf("rafthttp: unmarshal message frame: %w", err)
	}
	return m, nil
}

func (dec *messageDecoder) lastSize() int { return dec.size }
