package rafthttptest

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// readChunk is the most one read from the real connection returns.
const readChunk = 32 << 10

// chunk is data (or the final error) read from the real connection, with
// the time it arrived.
type chunk struct {
	data []byte
	err  error
	at   time.Time
}

// faultConn applies one direction's faults to what the application reads
// from a real connection: a pump goroutine reads the socket, holds
// blocked traffic back, waits for bandwidth, and hands chunks over; Read
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
	// held is set once the pump has held back bytes of a blocked direction.
	held atomic.Bool

	mu           sync.Mutex
	pending      []byte
	readErr      error
	readDeadline time.Time
	deadlineSet  chan struct{}
	closeOnce    sync.Once
}

func newFaultConn(c net.Conn, faults *faultTable, resolve func() (link, bool), onClose func()) *faultConn {
	ctx, cancel := context.WithCancel(context.Background())
	fc := &faultConn{
		Conn: c, faults: faults, resolve: resolve, onClose: onClose,
		chunks: make(chan chunk, 64), ctx: ctx, cancel: cancel,
		deadlineSet: make(chan struct{}, 1),
	}
	return fc
}

// start launches the pump; Close stops it.
func (c *faultConn) start() *faultConn {
	c.pumped.Go(c.pump)
	return c
}

// pump reads the socket until it fails or the connection is closed.
// Bytes read while the direction is blocked are held until it heals, and
// the pump reads nothing more meanwhile, so the writer's socket buffers
// fill as they would behind a firewall that drops packets; afterwards the
// bytes flow on in order, as TCP's retransmissions would carry them. (A
// stream that resumed with bytes missing could hand a peer records that
// parse but lie: a msgappv2 record after a lost one has the wrong index.)
// A close or reset with no bytes held ahead of it is passed on at once.
func (c *faultConn) pump() {
	for {
		buf := make([]byte, readChunk)
		n, err := c.Conn.Read(buf)
		if n == 0 && err == nil {
			continue
		}
		if n > 0 && !c.admit(n) {
			return // closed while waiting
		}
		select {
		case c.chunks <- chunk{data: buf[:n], err: err, at: time.Now()}:
		case <-c.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// admit waits until the read direction lets n bytes through: until it is
// not blocked, then for its bandwidth. It reports false if the connection
// was closed first.
func (c *faultConn) admit(n int) bool {
	l, ok := c.resolve()
	if !ok {
		return true
	}
	f, changed := c.faults.watch(l)
	for f.blocked {
		c.held.Store(true)
		select {
		case <-changed:
		case <-c.ctx.Done():
			return false
		}
		f, changed = c.faults.watch(l)
	}
	if f.limiter != nil {
		for n > 0 {
			step := min(n, f.limiter.Burst())
			if f.limiter.WaitN(c.ctx, step) != nil {
				return false
			}
			n -= step
		}
	}
	return true
}

// latency is the read direction's current latency.
func (c *faultConn) latency() time.Duration {
	if l, ok := c.resolve(); ok {
		return c.faults.get(l).latency
	}
	return 0
}

// Read returns data the pump admitted, once its latency has passed,
// honouring the read deadline and Close.
func (c *faultConn) Read(b []byte) (int, error) {
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

// next waits for the next chunk and then for its latency to pass.
func (c *faultConn) next() (chunk, error) {
	var ch chunk
	for {
		var err error
		var got bool
		if ch, got, err = c.wait(c.chunks, -1); err != nil {
			return chunk{}, err
		}
		if got {
			break
		}
	}
	for {
		remaining := time.Until(ch.at.Add(c.latency()))
		if remaining <= 0 {
			return ch, nil
		}
		if _, _, err := c.wait(nil, remaining); err != nil {
			c.requeue(ch)
			return chunk{}, err
		}
	}
}

// wait blocks until a chunk arrives on from, d passes (d < 0: forever),
// the deadline changes (both return with got false and no error, so the
// caller re-checks), the read deadline passes, or the conn is closed.
func (c *faultConn) wait(from <-chan chunk, d time.Duration) (chunk, bool, error) {
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
	case <-c.deadlineSet:
		return chunk{}, false, nil
	case <-timerC(deadline):
		return chunk{}, false, os.ErrDeadlineExceeded
	case <-c.ctx.Done():
		return chunk{}, false, net.ErrClosed
	}
}

// requeue keeps a chunk whose latency had not passed when the deadline
// fired, so no byte is lost.
func (c *faultConn) requeue(ch chunk) {
	c.mu.Lock()
	c.pending = append(ch.data, c.pending...)
	if ch.err != nil {
		c.readErr = ch.err
	}
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
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// reset closes the connection with a TCP RST, as a crashed host or a
// middlebox would.
func (c *faultConn) reset() {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
