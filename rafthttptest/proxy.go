package rafthttptest

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/rafthttp/rafthttp/types"
)

// Stand-in IDs for the two ends of a Proxy's connections: in its fault
// table, the link from proxyClient to proxyServer is ToServer.
const (
	proxyClient types.ID = 1
	proxyServer types.ID = 2
)

// acceptRetry is how long the accept loop waits after a failed Accept
// that did not come from Close (out of file descriptors, say).
const acceptRetry = 10 * time.Millisecond

// Proxy is a TCP proxy on loopback that puts the fault layer of a Cluster
// between any client and one server, for Transports a Cluster does not
// run (etcd's own, for one). Clients connect to Addr; for each connection
// the Proxy dials the target and copies bytes both ways, applying the
// faults set on ToServer and ToClient. A reset on either side (a cut, or
// a peer's RST) resets the other; an orderly close is passed on as one.
//
// Use a Proxy from one test; Close stops it.
type Proxy struct {
	target string
	ln     net.Listener
	faults faultTable
	ctx    context.Context
	cancel context.CancelFunc
	// wg tracks the accept loop and one goroutine per proxied connection.
	wg sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	conns     map[*proxiedConn]struct{}
	closeOnce sync.Once
}

// NewProxy listens on a loopback port and forwards every connection to
// target, a host:port.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{target: target, ln: ln, ctx: ctx, cancel: cancel, conns: make(map[*proxiedConn]struct{})}
	p.wg.Go(p.acceptLoop)
	return p, nil
}

// Addr is the host:port clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// ToServer returns the faults of the bytes clients send to the server.
func (p *Proxy) ToServer() *Direction {
	return &Direction{faults: &p.faults, l: link{proxyClient, proxyServer}}
}

// ToClient returns the faults of the bytes the server sends to clients.
func (p *Proxy) ToClient() *Direction {
	return &Direction{faults: &p.faults, l: link{proxyServer, proxyClient}}
}

// Reset closes every live proxied connection with a TCP RST to both the
// client and the server. New connections work.
func (p *Proxy) Reset() {
	for _, pc := range p.live() {
		pc.reset()
	}
}

// Close stops accepting, closes every proxied connection and waits for
// all of the Proxy's goroutines. It is idempotent; only the first call
// returns an error, from closing the listener.
func (p *Proxy) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.cancel()
		err = p.ln.Close()
		for _, pc := range p.live() {
			pc.close()
		}
		p.wg.Wait()
	})
	return err
}

func (p *Proxy) live() []*proxiedConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*proxiedConn, 0, len(p.conns))
	for pc := range p.conns {
		out = append(out, pc)
	}
	return out
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || !p.pause() {
				return
			}
			continue
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// pause waits acceptRetry, reporting false if the Proxy closed meanwhile.
func (p *Proxy) pause() bool {
	t := time.NewTimer(acceptRetry)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// serve proxies one client connection until both directions end. The
// connection is tracked before the Proxy dials the server, so a Reset
// reaches every connection the server has seen. A client whose server
// cannot be reached is reset, as a refused dial would look to it.
func (p *Proxy) serve(client net.Conn) {
	pc := &proxiedConn{client: newFaultConn(client, &p.faults, fixedLink(link{proxyClient, proxyServer}), nil).start()}
	if !p.track(pc) {
		pc.close()
		return
	}
	defer p.forget(pc)
	var d net.Dialer
	server, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		pc.reset()
		return
	}
	if pc.attach(newFaultConn(server, &p.faults, fixedLink(link{proxyServer, proxyClient}), nil).start()) {
		pc.run()
	}
}

// track registers pc, reporting false if the Proxy is closing.
func (p *Proxy) track(pc *proxiedConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[pc] = struct{}{}
	return true
}

func (p *Proxy) forget(pc *proxiedConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, pc)
}

// fixedLink resolves a connection to l.
func fixedLink(l link) func() (link, bool) { return func() (link, bool) { return l, true } }

// resetSocket closes c with a TCP RST.
func resetSocket(c net.Conn) {
	lingerZero(c)
	_ = c.Close()
}
