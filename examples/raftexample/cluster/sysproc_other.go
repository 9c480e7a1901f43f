//go:build !linux

package cluster

import "syscall"

// sysProcAttr adds nothing where there is no parent-death signal.
func sysProcAttr() *syscall.SysProcAttr { return nil }
