package rafthttp

import (
	"context"
	"net"
	"time"

	"github.com/rafthttp/rafthttp/transport"
)

// A peer that stops acknowledging our bytes (its host died, the network
// drops its packets, or it stopped reading and its window closed) is
// otherwise noticed only when a write blocks, which with small messages
// can take long, or after TCP's own retransmission limit, about fifteen
// minutes. Where the system supports it (TCP_USER_TIMEOUT on Linux), peer
// connections ask the kernel to give up once sent data has gone
// unacknowledged for the write timeout: the next read or write then fails.
// Elsewhere setUserTimeout does nothing and the write deadlines alone
// apply.

// withUserTimeout sets the user timeout d on every TCP connection dial
// opens; other connections (a custom DialContext's wrappers) are left as
// they are. d <= 0 returns dial unchanged.
func withUserTimeout(dial transport.DialFunc, d time.Duration) transport.DialFunc {
	if d <= 0 {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			tuneUserTimeout(c, d)
		}
		return c, err
	}
}

// userTimeoutListener sets the user timeout on every connection accepted.
type userTimeoutListener struct {
	net.Listener
	timeout time.Duration // <= 0: leave connections alone
}

func (l *userTimeoutListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.timeout > 0 {
		tuneUserTimeout(c, l.timeout)
	}
	return c, err
}

// tuneUserTimeout applies d to c if it is a TCP connection. Failure is
// harmless (the write deadlines still hold), so it is not reported.
func tuneUserTimeout(c net.Conn, d time.Duration) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = setUserTimeout(tc, d)
	}
}
