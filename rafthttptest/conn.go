package rafthttptest

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// readChunk is the most one read from the real connection returns.
	readChunk = 32 << 10
	// chunkBacklog is how many chunks the pump queues ahead of Read. Bytes
	// still crossing a link with a bandwidth wait here too: a connection
	// with full reads has at most maxQueue/readChunk pieces in a full
	// queue (see pieceFor), and the backlog holds as many again of bytes
	// that have crossed.
	chunkBacklog = 2 * maxQueue / readChunk
)

// chunk is data (or the final error) read from the real connection, with
// the time it arrived: when it was read, or on a link with a bandwidth
// when its last byte left the link's queue.
type chunk struct {
	data []byte
	err  error
	at   time.Time
}

// faultConn applies one direction's faults to what the application reads
// from a real connection: a pump goroutine reads the socket, holds
// blocked or stalled traffic back, queues for the link, applies the byte
// triggers (flip, cut) and hands chunks over; Read waits out a stall and
// releases each chunk only after the link's latency. Writes go straight to
// the socket: the peer's faultConn applies that direction's faults.
type faultConn struct {
	net.Conn
	faults *faultTable
	// resolve names the direction read on this connection. It is called per
	// chunk, because an accepted connection learns its dialer only once the
	// dialer has registered itself.
	resolve func() (link, bool)
	onClose func()

	chunks chan chunk
	ctx    context.Context
	cancel context.CancelFunc
	pumped sync.WaitGroup
	// held is set once the pump has held back bytes of a blocked or
	// stalled direction.
	held atomic.Bool
	// wasCut is set once a cut has reset the socket.
	wasCut atomic.Bool

	// Owned by the pump: bytes passed on so far, and where they stand
	// against the link's byte triggers.
	carried       int64
	cutAt, flipAt triggerCursor

	mu      sync.Mutex
	pending []byte
	// early is a chunk whose time had not come when a read deadline ended
	// the wait for it; the next Read waits for it again.
	early        *chunk
	readErr      error
	readDeadline time.Time
	deadlineSet  chan struct{}
	closeOnce    sync.Once
}

func newFaultConn(c net.Conn, faults *faultTable, resolve func() (link, bool), onClose func()) *faultConn {
	ctx, cancel := context.WithCancel(context.Background())
	fc := &faultConn{
		Conn: c, faults: faults, resolve: resolve, onClose: onClose,
		chunks: make(chan chunk, chunkBacklog), ctx: ctx, cancel: cancel,
		deadlineSet: make(chan struct{}, 1),
	}
	return fc
}

// start launches the pump; Close stops it.
func (c *faultConn) start() *faultConn {
	c.pumped.Go(c.pump)
	return c
}

// latency is the read direction's current latency.
func (c *faultConn) latency() time.Duration {
	if l, ok := c.resolve(); ok {
		return c.faults.get(l).latency
	}
	return 0
}

// Read returns data the pump admitted, once its latency has passed and no
// stall holds the link, honouring the read deadline and Close.
func (c *faultConn) Read(b []byte) (int, error) {
	if err := c.awaitStall(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	if len(c.pending) > 0 {
		n := copy(b, c.pending)
		c.pending = c.pending[n:]
		c.mu.Unlock()
		return n, nil
	}
	if c.readErr != nil {
		err := c.readErr
		c.mu.Unlock()
		return 0, err
	}
	c.mu.Unlock()
	ch, err := c.next()
	if err != nil {
		return 0, err
	}
	n := copy(b, ch.data)
	c.mu.Lock()
	c.pending = ch.data[n:]
	if ch.err != nil {
		c.readErr = ch.err
	}
	c.mu.Unlock()
	if n == 0 && ch.err != nil {
		return 0, ch.err
	}
	return n, nil
}

// next waits for the next chunk and then for its time (arrival plus
// latency) to come.
func (c *faultConn) next() (chunk, error) {
	ch, err := c.take()
	if err != nil {
		return chunk{}, err
	}
	for {
		remaining := time.Until(ch.at.Add(c.latency()))
		if remaining <= 0 {
			return ch, nil
		}
		if _, _, err := c.wait(nil, remaining, nil); err != nil {
			c.keepEarly(ch)
			return chunk{}, err
		}
	}
}

// take returns the chunk a deadline interrupted, or else the next one the
// pump queues.
func (c *faultConn) take() (chunk, error) {
	c.mu.Lock()
	early := c.early
	c.early = nil
	c.mu.Unlock()
	if early != nil {
		return *early, nil
	}
	for {
		ch, got, err := c.wait(c.chunks, -1, nil)
		if err != nil || got {
			return ch, err
		}
	}
}

// awaitStall waits while the read direction is stalled, so chunks the pump
// queued before the stall began are held too.
func (c *faultConn) awaitStall() error {
	l, ok := c.resolve()
	if !ok {
		return nil
	}
	for {
		f, changed := c.faults.watch(l)
		remaining := time.Until(f.stallUntil)
		if remaining <= 0 {
			return nil
		}
		if _, _, err := c.wait(nil, remaining, changed); err != nil {
			return err
		}
	}
}

// wait blocks until a chunk arrives on from, d passes (d < 0: forever),
// wake is closed or the deadline changes (these return with got false and
// no error, so the caller re-checks), the read deadline passes, or the
// conn is closed.
func (c *faultConn) wait(from <-chan chunk, d time.Duration, wake <-chan struct{}) (chunk, bool, error) {
	deadline := c.deadlineTimer()
	defer stopTimer(deadline)
	var sleep *time.Timer
	if d >= 0 {
		sleep = time.NewTimer(d)
		defer sleep.Stop()
	}
	select {
	case ch := <-from:
		return ch, true, nil
	case <-timerC(sleep):
		return chunk{}, false, nil
	case <-wake:
		return chunk{}, false, nil
	case <-c.deadlineSet:
		return chunk{}, false, nil
	case <-timerC(deadline):
		return chunk{}, false, os.ErrDeadlineExceeded
	case <-c.ctx.Done():
		return chunk{}, false, net.ErrClosed
	}
}

// keepEarly keeps a chunk whose time had not come when the deadline
// fired, so no byte is lost and none arrives before its time.
func (c *faultConn) keepEarly(ch chunk) {
	c.mu.Lock()
	c.early = &ch
	c.mu.Unlock()
}

// deadlineTimer returns a timer for the read deadline, or nil if none.
func (c *faultConn) deadlineTimer() *time.Timer {
	c.mu.Lock()
	d := c.readDeadline
	c.mu.Unlock()
	if d.IsZero() {
		return nil
	}
	return time.NewTimer(time.Until(d))
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// SetReadDeadline applies to Read on this side, since the pump reads the
// socket without one.
func (c *faultConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	select {
	case c.deadlineSet <- struct{}{}:
	default:
	}
	return nil
}

// SetDeadline sets both deadlines.
func (c *faultConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

// Close closes the socket and waits for the pump.
func (c *faultConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		err = c.Conn.Close()
		c.pumped.Wait()
		if c.wasCut.Load() {
			err = nil // the cut closed the socket already
		}
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// reset closes the connection with a TCP RST, as a crashed host or a
// middlebox would.
func (c *faultConn) reset() {
	lingerZero(c.Conn)
	_ = c.Close()
}

// lingerZero makes closing c send a TCP RST instead of a FIN.
func lingerZero(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}
