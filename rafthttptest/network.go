package rafthttptest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rafthttp/rafthttp/types"
)

// network connects the members of a cluster. Every connection between
// two members is dialled through it and accepted through it, so both ends
// are faultConns and each end applies the faults of the direction it
// reads.
type network struct {
	faults faultTable

	mu sync.Mutex
	// addrs maps a member's listen address to its ID.
	addrs map[string]types.ID
	// dialers maps the local address of each dialled connection to the
	// member that dialled it, so the acceptor can tell who is calling.
	dialers map[string]types.ID
	// conns tracks live connections between members, for resets.
	conns map[*faultConn]pair
}

// pair is an unordered pair of members.
type pair struct{ a, b types.ID }

func (p pair) has(x, y types.ID) bool {
	return (p.a == x && p.b == y) || (p.a == y && p.b == x)
}

func newNetwork() *network {
	return &network{
		addrs:   make(map[string]types.ID),
		dialers: make(map[string]types.ID),
		conns:   make(map[*faultConn]pair),
	}
}

func (n *network) register(id types.ID, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addrs[addr] = id
}

// dialer returns the DialContext for member `from`.
func (n *network) dialer(from types.ID) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.mu.Lock()
		to, known := n.addrs[addr]
		n.mu.Unlock()
		if known && n.faults.get(link{from: from, to: to}).refuseDial {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || !known {
			return c, err
		}
		n.mu.Lock()
		n.dialers[c.LocalAddr().String()] = from
		n.mu.Unlock()
		local := c.LocalAddr().String()
		read := link{from: to, to: from}
		var fc *faultConn
		fc = newFaultConn(c, &n.faults, func() (link, bool) { return read, true }, func() {
			n.forget(fc, local)
		})
		// Start the pump before a reset can reach fc: Close waits for it.
		fc.start()
		n.track(fc, pair{from, to})
		return fc, nil
	}
}

// listener wraps l, the listener of member `to`.
func (n *network) listener(to types.ID, l net.Listener) net.Listener {
	return &faultListener{Listener: l, net: n, to: to}
}

func (n *network) track(c *faultConn, p pair) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.conns[c] = p
}

func (n *network) forget(c *faultConn, local string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.conns, c)
	if local != "" {
		delete(n.dialers, local)
	}
}

// dialerOf returns the member that dialled from remote, if it is one.
func (n *network) dialerOf(remote string) (types.ID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id, ok := n.dialers[remote]
	return id, ok
}

// reset closes every live connection between a and b with an RST.
func (n *network) reset(a, b types.ID) {
	n.mu.Lock()
	var victims []*faultConn
	for c, p := range n.conns {
		if p.has(a, b) {
			victims = append(victims, c)
		}
	}
	n.mu.Unlock()
	for _, c := range victims {
		c.reset()
	}
}

// faultListener wraps a member's listener so accepted connections apply
// the faults of the direction from their dialer to this member.
type faultListener struct {
	net.Listener
	net *network
	to  types.ID
}

func (l *faultListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	remote := c.RemoteAddr().String()
	var fc *faultConn
	var known atomic.Pointer[link]
	// The dialer registers before it writes but is forgotten once it
	// closes: the first answer is kept, so bytes read after that still get
	// the link's faults, and the connection is tracked once.
	resolve := func() (link, bool) {
		if lk := known.Load(); lk != nil {
			return *lk, true
		}
		from, ok := l.net.dialerOf(remote)
		if !ok {
			return link{}, false
		}
		lk := &link{from: from, to: l.to}
		if known.CompareAndSwap(nil, lk) {
			l.net.track(fc, pair{from, l.to})
		}
		return *lk, true
	}
	fc = newFaultConn(c, &l.net.faults, resolve, func() { l.net.forget(fc, "") })
	return fc.start(), nil
}

func (l *faultListener) String() string { return fmt.Sprintf("member %s listener", l.to) }
