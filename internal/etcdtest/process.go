package etcdtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a member may take to exit after SIGTERM before it
// is killed.
const stopGrace = 10 * time.Second

// process is one running etcd. Its waiter goroutine is owned by the process
// value: stop signals the child and waits for the waiter to return.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	wg   sync.WaitGroup
	done chan struct{} // closed once the child has exited and been reaped
	err  error         // Wait's result; read only after done is closed
}

// startProcess runs bin with args, appending its stdout and stderr to
// logPath. The child gets its own process group and is killed by the
// kernel if the test binary dies first.
func startProcess(bin string, args []string, logPath string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("etcdtest: starting %s: %w", bin, err)
	}
	p := &process{cmd: cmd, log: f, done: make(chan struct{})}
	p.wg.Go(p.wait)
	return p, nil
}

func (p *process) wait() {
	p.err = p.cmd.Wait()
	p.log.Close()
	close(p.done)
}

// exited reports whether the child has exited, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM, escalates to SIGKILL on the whole process group after
// stopGrace, and returns once the child is reaped. It is safe to call on a
// process that already exited.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	p.wg.Wait()
}

// cleanEnv is the test's environment without ETCD_* and ETCDCTL_*
// variables, which etcd would read as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ETCD_") || strings.HasPrefix(kv, "ETCDCTL_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
