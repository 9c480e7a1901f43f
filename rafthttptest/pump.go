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
// the wrong index.) On a link with a bandwidth the pump likewise stops
// reading while its bytes wait to enter the link's queue. A close or
// reset with no bytes held ahead of it is passed on at once.
func (c *faultConn) pump() {
	for {
		buf := make([]byte, readChunk)
		n, err := c.Conn.Read(buf)
		if n > 0 && !c.pass(buf[:n]) {
			return
		}
		if err != nil {
			c.deliver(chunk{err: err, at: time.Now()})
			return
		}
	}
}

// pass takes data through the read direction's faults, piece by piece as
// the link admits it, and queues it for Read. It reports false if the
// connection was closed or cut meanwhile.
func (c *faultConn) pass(data []byte) bool {
	for len(data) > 0 {
		f, s, ok := c.admit(len(data))
		if !ok {
			return false // closed while waiting
		}
		piece := data[:s.n]
		data = data[s.n:]
		through, cut := c.strike(f, piece)
		if cut {
			c.cutOff(through, s.depart)
			return false
		}
		if !c.deliver(chunk{data: through, at: s.depart}) {
			return false
		}
	}
	return true
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

// admit waits until the read direction lets the first of n bytes through:
// until it is neither blocked nor stalled, then until they fit in its
// link's queue. It returns the faults in force and the bytes' schedule
// (how many pass, and when they have crossed the link), and false if the
// connection was closed first. A change of the link's bandwidth while the
// bytes wait schedules them on the new one.
func (c *faultConn) admit(n int) (linkFaults, slot, bool) {
	l, ok := c.resolve()
	if !ok {
		return linkFaults{}, slot{n: n, depart: time.Now()}, true
	}
	var wire *bottleneck
	var s slot
	for {
		f, changed := c.faults.watch(l)
		if f.blocked || f.stalled(time.Now()) {
			c.held.Store(true)
			if !c.holdOn(f, changed) {
				return f, slot{}, false
			}
			continue
		}
		if f.wire == nil {
			return f, slot{n: n, depart: time.Now()}, true
		}
		if f.wire != wire {
			wire, s = f.wire, f.wire.reserve(n, time.Now())
		}
		entered, ok := c.sleepUntil(s.enter, changed)
		if !ok {
			return f, slot{}, false
		}
		if entered {
			return f, s, true
		}
	}
}

// sleepUntil waits until t, reporting true then, false if changed is
// closed first; ok is false if the connection was closed.
func (c *faultConn) sleepUntil(t time.Time, changed <-chan struct{}) (reached, ok bool) {
	d := time.Until(t)
	if d <= 0 {
		return true, true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true, true
	case <-changed:
		return false, true
	case <-c.ctx.Done():
		return false, false
	}
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
// got through, once they crossed the link at `at`, then the error a reset
// peer produces.
func (c *faultConn) cutOff(through []byte, at time.Time) {
	c.wasCut.Store(true)
	resetSocket(c.Conn)
	c.deliver(chunk{data: through, err: c.resetError("read"), at: at})
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
