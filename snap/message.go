package snap

import (
	"io"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Message is a raft snapshot message together with the database bytes that
// are sent after it.
//
// The embedded *raftpb.Message is the MsgSnap itself. ReadCloser yields the
// database body and fails with ErrShortRead or ErrExpectEOF when the body
// does not have the size given to NewMessage. TotalSize is the encoded size
// of the raft message plus the body size. Build a Message with NewMessage: a
// zero Message has no notification channel.
type Message struct {
	*raftpb.Message
	ReadCloser io.ReadCloser
	TotalSize  int64
	closeC     chan bool

	closeOnce sync.Once
}

// NewMessage returns a Message for rs whose body is rc, which must hold
// exactly rcSize bytes. A nil rc is treated as an empty body. rs may be nil,
// in which case it counts as zero bytes toward TotalSize.
func NewMessage(rs *raftpb.Message, rc io.ReadCloser, rcSize int64) *Message {
	return &Message{
		Message:    rs,
		ReadCloser: newExactReadCloser(rc, rcSize),
		TotalSize:  int64(proto.Size(rs)) + rcSize,
		closeC:     make(chan bool, 1),
	}
}

// CloseNotify returns a channel that receives one value once
// CloseWithError has run: true if the transfer succeeded, false if not. It
// returns nil for a Message not built by NewMessage.
func (m *Message) CloseNotify() <-chan bool {
	return m.closeC
}

// CloseWithError ends the transfer. It closes ReadCloser (when set) and then
// delivers err == nil on the CloseNotify channel; an error from closing the
// body replaces err. Only the first call has any effect, so it is safe to
// call more than once, and it never blocks.
func (m *Message) CloseWithError(err error) {
	m.closeOnce.Do(func() {
		if m.ReadCloser != nil {
			if cerr := m.ReadCloser.Close(); cerr != nil {
				err = cerr
			}
		}
		if m.closeC != nil {
			m.closeC <- err == nil
		}
	})
}
