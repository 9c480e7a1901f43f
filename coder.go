package rafthttp

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
)

// encoder writes raft messages onto one stream connection.
type encoder interface {
	// encode writes m. An error means the connection is unusable.
	encode(m *raftpb.Message) error
	// lastSize is proto.Size of the message last encoded, for metrics.
	lastSize() int
}

// decoder reads raft messages from one stream connection.
type decoder interface {
	// decode returns the next message. Any error ends the connection.
	decode() (*raftpb.Message, error)
	// lastSize is the protobuf size of the message last decoded, for
	// metrics.
	lastSize() int
}

// Size limits applied to lengths read from the wire, when the Transport
// leaves them zero.
const (
	// defaultMaxMessageBytes caps one message on a stream and a pipeline
	// POST body; etcd uses the same cap on its message stream.
	defaultMaxMessageBytes = 512 << 20
	// defaultMaxSnapshotEnvelopeBytes caps the raft message in front of a
	// snapshot's DB bytes, as etcd does since v3.7.1.
	defaultMaxSnapshotEnvelopeBytes = 64 << 20
)

// linkHeartbeat is the keep-alive a stream writer sends when idle. Receivers
// recognise it by content (a heartbeat from and to member 0), never by its
// bytes, because etcd 3.6 and older encode it densely.
func linkHeartbeat() *raftpb.Message {
	t := raftpb.MsgHeartbeat
	return &raftpb.Message{Type: &t}
}

func isLinkHeartbeat(m *raftpb.Message) bool {
	return m.GetType() == raftpb.MsgHeartbeat && m.GetFrom() == 0 && m.GetTo() == 0
}

// linkHeartbeatSize is what etcd adds to sent-bytes metrics per link
// heartbeat: the size of the encoded heartbeat message.
const linkHeartbeatSize = 2

// readLength reads a big-endian 64-bit length and checks it against limit
// before anything is allocated for the payload.
func readLength(r io.Reader, scratch *[8]byte, limit uint64) (uint64, error) {
	if _, err := io.ReadFull(r, scratch[:]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint64(scratch[:])
	if n > limit {
		// The bare sentinel: its text reaches etcd peers in reply bodies.
		return 0, ErrExceedSizeLimit
	}
	return n, nil
}

// readFrame reads a length-prefixed payload of at most limit bytes,
// reusing scratch when it is large enough.
func readFrame(r io.Reader, lenBuf *[8]byte, scratch []byte, limit uint64) ([]byte, error) {
	n, err := readLength(r, lenBuf, limit)
	if err != nil {
		return nil, err
	}
	return appendPayload(r, scratch[:0], n)
}

// appendPayload appends exactly n bytes from r to dst. A large payload
// that does not fit grows as its bytes arrive, so a peer that announces a
// big message and then stalls cannot make us allocate it up front.
func appendPayload(r io.Reader, dst []byte, n uint64) ([]byte, error) {
	if free := uint64(cap(dst) - len(dst)); n <= free || n <= scratchKeepBytes {
		start := len(dst)
		dst = slices.Grow(dst, int(n))[:start+int(n)]
		if _, err := io.ReadFull(r, dst[start:]); err != nil {
			return nil, noEOF(err)
		}
		return dst, nil
	}
	b := bytes.NewBuffer(dst)
	got, err := b.ReadFrom(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, err
	}
	if uint64(got) != n {
		return nil, io.ErrUnexpectedEOF
	}
	return b.Bytes(), nil
}

// noEOF turns a clean EOF inside a record into an unexpected one: the
// stream ended mid-record.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// scratchKeepBytes is the largest decode buffer a connection keeps between
// messages; rarer, larger messages get a buffer of their own.
const scratchKeepBytes = 1 << 20

// keepScratch makes buf, built on *scratch[:0], the scratch for the next
// message, or drops it if it is too large to keep around. Only a new
// buffer is stored: storing the same one again would cost a write barrier
// per message while the garbage collector runs. Users take scratch[:0].
func keepScratch(scratch *[]byte, buf []byte) {
	switch {
	case cap(buf) > scratchKeepBytes:
		*scratch = nil
	case cap(buf) != cap(*scratch):
		*scratch = buf
	}
}
