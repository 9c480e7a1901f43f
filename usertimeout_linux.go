//go:build linux

package rafthttp

import (
	"net"
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT from linux/tcp.h, the same on every
// architecture; the syscall package does not define it.
const tcpUserTimeout = 0x12

// setUserTimeout sets TCP_USER_TIMEOUT on c to d, rounded up to whole
// milliseconds.
func setUserTimeout(c *net.TCPConn, d time.Duration) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	ms := int((d + time.Millisecond - 1) / time.Millisecond)
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, ms)
	}); err != nil {
		return err
	}
	return serr
}
