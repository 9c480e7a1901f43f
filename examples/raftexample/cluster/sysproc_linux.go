package cluster

import "syscall"

// sysProcAttr has the kernel kill a member if the process that started it
// dies, so an interrupted demo or test leaves no member running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
