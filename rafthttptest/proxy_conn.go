package rafthttptest

import (
	"io"
	"sync"
)

// proxiedConn is one client connection and the Proxy's connection to the
// server for it. Each side's faultConn reads one direction and applies
// its faults; the copies write to the other side's socket.
type proxiedConn struct {
	client *faultConn

	mu sync.Mutex
	// server is nil until the Proxy's dial succeeded, then fixed.
	server *faultConn
	// ended is set once a reset or close ended the connection.
	ended bool
}

// attach completes pc with its server side, reporting false (and
// resetting server) if pc ended while the Proxy dialled.
func (pc *proxiedConn) attach(server *faultConn) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.ended {
		server.reset()
		return false
	}
	pc.server = server
	return true
}

// end marks pc ended and returns its server side, if attached.
func (pc *proxiedConn) end() *faultConn {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.ended = true
	return pc.server
}

// run copies both directions and closes both sides once both copies end.
func (pc *proxiedConn) run() {
	var copies sync.WaitGroup
	copies.Go(func() { pc.copy(pc.server, pc.client) })
	pc.copy(pc.client, pc.server)
	copies.Wait()
	pc.close()
}

// copy forwards what src delivers to dst. The end of src's bytes is passed
// on as a half-close; any failure resets both sides, so a cut or a reset
// on one side reaches the other once the bytes that got through are
// written to it.
func (pc *proxiedConn) copy(dst, src *faultConn) {
	if _, err := io.Copy(dst, src); err != nil {
		pc.reset()
		return
	}
	if cw, ok := dst.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// reset ends pc with a TCP RST to both sides.
func (pc *proxiedConn) reset() {
	server := pc.end()
	pc.client.reset()
	if server != nil {
		server.reset()
	}
}

// close ends pc with an orderly close of both sides.
func (pc *proxiedConn) close() {
	server := pc.end()
	_ = pc.client.Close()
	if server != nil {
		_ = server.Close()
	}
}
