package rafthttp

import (
	"bufio"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/rafthttp/rafthttp/types"
)

// outgoingConn is the body of a stream response: the remote peer dialed us
// and we write our messages for it into this response. The HTTP handler
// that produced it waits until Close.
type outgoingConn struct {
	t            streamType
	local, peer  types.ID
	w            http.ResponseWriter
	rc           *http.ResponseController
	writeTimeout time.Duration
	// buf gathers encoded messages so each flush is one chunk and one
	// system call rather than one per message.
	buf *bufio.Writer
	// deadlineRefresh is when the write deadline is next pushed forward.
	deadlineRefresh time.Time

	closeOnce sync.Once
	closed    chan struct{}
	goneOnce  sync.Once
	gone      chan struct{}
}

func newOutgoingConn(t streamType, local, peer types.ID, w http.ResponseWriter,
	writeTimeout time.Duration) *outgoingConn {
	c := &outgoingConn{
		t: t, local: local, peer: peer, w: w, rc: http.NewResponseController(w),
		writeTimeout: writeTimeout, closed: make(chan struct{}), gone: make(chan struct{}),
	}
	c.buf = bufio.NewWriterSize(responseSink{c}, outgoingBufSize)
	return c
}

// outgoingBufSize is the stream write buffer: hundreds of small messages,
// while a large one bypasses it.
const outgoingBufSize = 32 << 10

// Write buffers p; it reaches the network on Flush or when the buffer
// fills. A p that does not fit in the space left is not split to top the
// buffer up, as bufio would: each response Write becomes an HTTP chunk
// that costs system calls of its own, so the buffered bytes go first and
// a large p then bypasses the buffer whole.
func (c *outgoingConn) Write(p []byte) (int, error) {
	if len(p) > c.buf.Available() && c.buf.Buffered() > 0 {
		if err := c.buf.Flush(); err != nil {
			return 0, err
		}
	}
	return c.buf.Write(p)
}

// Flush pushes buffered bytes to the network.
func (c *outgoingConn) Flush() error {
	if err := c.buf.Flush(); err != nil {
		return err
	}
	return c.rc.Flush()
}

// responseSink writes to the response under a write deadline, so a peer
// that stops reading cannot stall the writer for longer than the write
// timeout.
type responseSink struct{ c *outgoingConn }

func (s responseSink) Write(p []byte) (int, error) {
	if err := s.c.armWriteDeadline(); err != nil {
		return 0, err
	}
	return s.c.w.Write(p)
}

// armWriteDeadline keeps the deadline between half and all of the write
// timeout ahead, without touching it on every write.
func (c *outgoingConn) armWriteDeadline() error {
	now := time.Now()
	if now.Before(c.deadlineRefresh) {
		return nil
	}
	err := c.rc.SetWriteDeadline(now.Add(c.writeTimeout))
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	c.deadlineRefresh = now.Add(c.writeTimeout / 2)
	return nil
}

// Close releases the waiting handler, which ends the response. It may be
// called more than once.
func (c *outgoingConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// markGone records that the peer closed its end; the writer then closes
// the connection without writing to it again.
func (c *outgoingConn) markGone() {
	c.goneOnce.Do(func() { close(c.gone) })
}

// peerGone is closed once the peer has closed its end.
func (c *outgoingConn) peerGone() <-chan struct{} { return c.gone }

// done is closed once the connection is closed.
func (c *outgoingConn) done() <-chan struct{} { return c.closed }
