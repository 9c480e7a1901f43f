//go:build !linux

package rafthttp

import (
	"net"
	"time"
)

// setUserTimeout does nothing: only Linux has TCP_USER_TIMEOUT with these
// semantics. The per-write deadlines still bound blocked writes.
func setUserTimeout(*net.TCPConn, time.Duration) error { return nil }
