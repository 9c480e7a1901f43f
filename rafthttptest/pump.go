package rafthttptest

import (
	"net"
	"os"
	"syscall"
	"time"
)

// pump reads the socket until it fails, the connection is closed or a cut
// resets it. Bytes read while the direction is blocked or stalled are held
// until that ends, and the pump reads nothing more meanwhile, so the
// writer's socket buffers fill as they would behind a firewall that drops
// packets; afterwards the bytes flow on in order, as TCP's retransmissions
// would carry them. (A stream that resumed with bytes missing could hand a
// peer records that parse but lie: a msgappv2 record after a lost one has
// the wrong index.) A close or reset with no bytes held ahead of it is
// passed on at once.
func (c *faultConn) pump() {
	for {
		buf := make([]byte, readChunk)
		n, err := c.Conn.Read(buf)
		if n == 0 && err == nil {
			continue
		}
		data := buf[:n]
		if n > 0 {
			f, ok := c.admit(n)
			if !ok {
				return // closed while waiting
			}
			var cut bool
			if data, cut = c.strike(f, data); cut {
				c.cutOff(data)
				return
			}
		}
		if !c.deliver(chunk{data: data, err: err, at: time.Now()}) || err != nil {
			return
		}
	}
}

// deliver queues ch for Read, reporting false if the connection was closed
// first.
func (c *faultConn) deliver(ch chunk) bool {
	select {
	case c.chunks <- ch:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// admit waits until the read direction lets n bytes through: until it is
// neither blocked nor stalled, then for its bandwidth. It returns the
// faults in force, and false if the connection was closed first.
func (c *faultConn) admit(n int) (linkFaults, bool) {
	l, ok := c.resolve()
	if !ok {
		return linkFaults{}, true
	}
	f, changed := c.faults.watch(l)
	for f.blocked || f.stalled(time.Now()) {
		c.held.Store(true)
		if !c.holdOn(f, changed) {
			return f, false
		}
		f, changed = c.faults.watch(l)
	}
	if f.limiter != nil {
		for n > 0 {
			step := min(n, f.limiter.Burst())
			if f.limiter.WaitN(c.ctx, step) != nil {
				return f, false
			}
			n -= step
		}
	}
	return f, true
}

// holdOn waits until the faults change or, for a stall, it ends. It
// reports false if the connection was closed first.
func (c *faultConn) holdOn(f linkFaults, changed <-chan struct{}) bool {
	var end <-chan time.Time
	if !f.blocked {
		t := time.NewTimer(time.Until(f.stallUntil))
		defer t.Stop()
		end = t.C
	}
	select {
	case <-changed:
	case <-end:
	case <-c.ctx.Done():
		return false
	}
	return true
}

// strike applies the link's byte triggers to data, the next bytes this
// connection passes on. It returns the bytes that get through, all of
// data unless a cut fires, and whether one did; a flip alters its byte in
// place if that byte gets through.
func (c *faultConn) strike(f linkFaults, data []byte) (through []byte, cut bool) {
	through = data
	if i, ok := c.cutAt.hit(f.cut, c.carried, len(data)); ok {
		through, cut = data[:i+1], true
	}
	if i, ok := c.flipAt.hit(f.flip, c.carried, len(through)); ok {
		through[i] ^= 0xff
	}
	c.carried += int64(len(data))
	return through, cut
}

// cutOff resets the socket with a TCP RST and hands Read the bytes that
// got through, then the error a reset peer produces.
func (c *faultConn) cutOff(through []byte) {
	c.wasCut.Store(true)
	resetSocket(c.Conn)
	c.deliver(chunk{data: through, err: c.resetError("read"), at: time.Now()})
}

// resetError is the error a socket operation gets from a reset peer.
func (c *faultConn) resetError(op string) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(),
		Err: os.NewSyscallError(op, syscall.ECONNRESET)}
}

// Write goes straight to the socket: the peer's faultConn applies this
// direction's faults. After a cut it fails as writing to a reset peer
// does, not as writing to a connection closed on this side.
func (c *faultConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && c.wasCut.Load() {
		err = c.resetError("write")
	}
	return n, err
}
