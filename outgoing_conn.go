package rafthttp

import (
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
	// buf gathers encoded messages so each flush is one chunk rather than
	// one per message. It comes from bufs when writing starts and goes
	// back at Flush, so an idle stream holds no buffer.
	buf  *[]byte
	bufs *bufferPool
	// deadlineRefresh is when the write deadline is next pushed forward.
	deadlineRefresh time.Time

	closeOnce sync.Once
	closed    chan struct{}
	goneOnce  sync.Once
	gone      chan struct{}
}

func newOutgoingConn(t streamType, local, peer types.ID, w http.ResponseWriter,
	writeTimeout time.Duration, bufs *bufferPool) *outgoingConn {
	return &outgoingConn{
		t: t, local: local, peer: peer, w: w, rc: http.NewResponseController(w),
		writeTimeout: writeTimeout, bufs: bufs, closed: make(chan struct{}), gone: make(chan struct{}),
	}
}

// outgoingBufSize is the stream write buffer. Each flush becomes one HTTP
// chunk, which net/http writes with up to three system calls whatever its
// size, so a large buffer spreads that cost over more messages.
const outgoingBufSize = 128 << 10

// outgoingDirectBytes is the write size from which p bypasses the buffer:
// copying it would cost more than the chunk of its own it gets instead.
const outgoingDirectBytes = 8 << 10

// Write buffers p; it reaches the network on Flush or when the buffer
// fills. A large p is not copied: the buffered bytes go first and p then
// bypasses the buffer whole, rather than being split as bufio would.
func (c *outgoingConn) Write(p []byte) (int, error) {
	if len(p) >= outgoingDirectBytes {
		if err := c.writeBuffered(); err != nil {
			return 0, err
		}
		return responseSink{c}.Write(p)
	}
	if c.buf == nil {
		c.buf = c.bufs.get()
	}
	if len(*c.buf)+len(p) > cap(*c.buf) {
		if err := c.writeBuffered(); err != nil {
			return 0, err
		}
	}
	// The room is checked above, so a reslice does: unlike append, it
	// stores only the length, with no write barrier for the pointer.
	n := len(*c.buf)
	*c.buf = (*c.buf)[:n+len(p)]
	copy((*c.buf)[n:], p)
	return len(p), nil
}

// writeBuffered hands the buffered bytes to the response as one chunk.
func (c *outgoingConn) writeBuffered() error {
	if c.buf == nil || len(*c.buf) == 0 {
		return nil
	}
	_, err := responseSink{c}.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return err
}

// Flush pushes buffered bytes to the network and releases the buffer.
func (c *outgoingConn) Flush() error {
	err := c.writeBuffered()
	if c.buf != nil {
		c.bufs.put(c.buf)
		c.buf = nil
	}
	if err != nil {
		return err
	}
	return c.rc.Flush()
}

// bufferPool recycles stream write buffers among a Transport's streams.
type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, outgoingBufSize)
	return &b
}

func (p *bufferPool) put(b *[]byte) {
	*b = (*b)[:0]
	p.pool.Put(b)
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
