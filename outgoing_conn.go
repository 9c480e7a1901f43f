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

	closeOnce sync.Once
	closed    chan struct{}
	goneOnce  sync.Once
	gone      chan struct{}
}

func newOutgoingConn(t streamType, local, peer types.ID, w http.ResponseWriter,
	writeTimeout time.Duration) *outgoingConn {
	return &outgoingConn{
		t: t, local: local, peer: peer, w: w, rc: http.NewResponseController(w),
		writeTimeout: writeTimeout, closed: make(chan struct{}), gone: make(chan struct{}),
	}
}

// Write bounds each write with the write timeout, so a peer that stops
// reading cannot stall the writer forever.
func (c *outgoingConn) Write(p []byte) (int, error) {
	if err := c.rc.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil &&
		!errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return c.w.Write(p)
}

// Flush pushes buffered bytes to the network.
func (c *outgoingConn) Flush() error {
	return c.rc.Flush()
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
