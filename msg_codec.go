package rafthttp

import (
	"bufio"
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
	r io.Reader
	// br is r when it is buffered: frames found whole in its buffer are
	// decoded in place (see decodeBuffered).
	br      *bufio.Reader
	limit   uint64
	lenBuf  [8]byte
	scratch []byte
	size    int
	// boxes, on a stream, hands out the boxes of messages without entries
	// (see boxChunkLen); nil allocates each on its own.
	boxes *slabChunk[messageBox]
}

func newMessageDecoder(r io.Reader, limit uint64) *messageDecoder {
	br, _ := r.(*bufio.Reader)
	return &messageDecoder{r: r, br: br, limit: limit}
}

// newStreamMessageDecoder is newMessageDecoder for a stream, which decodes
// many messages: those without entries are carved from shared arrays.
func newStreamMessageDecoder(r io.Reader, limit uint64) *messageDecoder {
	dec := newMessageDecoder(r, limit)
	dec.boxes = new(slabChunk[messageBox])
	return dec
}

// decode reads one frame. Decoded messages never alias the input, so the
// scratch buffer (or the read buffer) can be reused for the next frame.
func (dec *messageDecoder) decode() (*raftpb.Message, error) {
	if dec.br != nil {
		if m, ok, err := dec.decodeBuffered(); ok || err != nil {
			return m, err
		}
	}
	payload, err := readFrame(dec.r, &dec.lenBuf, dec.scratch, dec.limit)
	if err != nil {
		return nil, err
	}
	keepScratch(&dec.scratch, payload)
	return dec.decodePayload(payload)
}

// decodeBuffered decodes a frame that already sits whole in the read
// buffer, without copying it out first. It reports false, having consumed
// nothing, if the frame is not buffered whole or is over the limit; the
// general path then reads it and reports its errors.
func (dec *messageDecoder) decodeBuffered() (*raftpb.Message, bool, error) {
	if dec.br.Buffered() == 0 {
		// Wait for the next read, so that the frame lands in the buffer.
		if _, err := dec.br.Peek(1); err != nil {
			return nil, false, err
		}
	}
	buf, _ := dec.br.Peek(dec.br.Buffered())
	if len(buf) < 8 {
		return nil, false, nil
	}
	n := binary.BigEndian.Uint64(buf)
	if n > dec.limit || n > uint64(len(buf)-8) {
		return nil, false, nil
	}
	m, err := dec.decodePayload(buf[8 : 8+n])
	if err != nil {
		return nil, true, err
	}
	_, err = dec.br.Discard(8 + int(n))
	return m, true, err
}

// decodePayload decodes one frame's payload.
func (dec *messageDecoder) decodePayload(payload []byte) (*raftpb.Message, error) {
	dec.size = len(payload)
	m, err := decodeMessage(payload, dec.boxes)
	if err != nil {
		return nil, fmt.Errorf("rafthttp: unmarshal message frame: %w", err)
	}
	return m, nil
}

func (dec *messageDecoder) lastSize() int { return dec.size }
