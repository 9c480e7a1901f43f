package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// mainPackage is the raftexample command's import path.
const mainPackage = "github.com/rafthttp/rafthttp/examples/raftexample"

// stopTimeout bounds waiting for a member to exit after SIGTERM before
// it is killed.
const stopTimeout = 10 * time.Second

// Build compiles the raftexample command into dir and returns the
// binary's path. It must run inside the rafthttp module.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "raftexample")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, mainPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", mainPackage, err, out)
	}
	return bin, nil
}

// Options configure a Cluster.
type Options struct {
	// Binary is the raftexample executable (see Build).
	Binary string
	// Dir holds each member's data directory and log; it must exist. The
	// caller removes it.
	Dir string
	// Size is the number of members that bootstrap the cluster.
	Size int
	// SnapshotCount is passed as --snapshot-count; zero leaves the default.
	SnapshotCount uint64
	// Host, if set, returns the address member id listens on, the host of
	// both its peer URL and its client API; nil means 127.0.0.1. Ports are
	// still picked free on this process's loopback, so a Host in another
	// network namespace should be one where nothing else listens.
	Host func(id uint64) string
	// CommandPrefix, if set, returns the command member id's command line
	// is appended to, for example {"ip", "netns", "exec", "ns1"}; it must
	// exec the member rather than fork it, so that signals reach the
	// member. Nil runs the binary directly.
	CommandPrefix func(id uint64) []string
}

// Cluster runs raftexample members as child processes. Members 1..Size
// bootstrap the cluster; members reserved later join it. Its methods are
// safe for concurrent use.
type Cluster struct {
	opts Options
	hc   *http.Client

	mu      sync.Mutex
	members []*member // members[i] has ID i+1
	wg      sync.WaitGroup
}

// member is one reserved member slot and its current process, if any.
type member struct {
	id         uint64
	host       string // of the peer URL and the client API
	peerURL    string
	clientPort int
	proc       *process // nil while not running
}

// process is a running member.
type process struct {
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{} // closed once the process is reaped
}

// New reserves ports for opts.Size members. It starts nothing.
func New(opts Options) (*Cluster, error) {
	if opts.Size < 1 {
		return nil, errors.New("cluster: Size must be at least 1")
	}
	c := &Cluster{opts: opts, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for range opts.Size {
		if _, err := c.Reserve(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Reserve picks ports for one more member and returns its ID. A member
// beyond Size starts with --join; add it with AddMember first.
func (c *Cluster) Reserve() (uint64, error) {
	ports, err := freePorts(2)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := uint64(len(c.members) + 1)
	host := "127.0.0.1"
	if c.opts.Host != nil {
		host = c.opts.Host(id)
	}
	m := &member{
		id:         id,
		host:       host,
		peerURL:    "http://" + net.JoinHostPort(host, strconv.Itoa(ports[0])),
		clientPort: ports[1],
	}
	c.members = append(c.members, m)
	return m.id, nil
}

// freePorts returns n distinct free TCP ports on loopback. Another
// process could take one before the member binds it; on loopback in a
// test that is unlikely enough.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: picking a port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) member(id uint64) (*member, error) {
	if id == 0 || id > uint64(len(c.members)) {
		return nil, fmt.Errorf("cluster: no member %d", id)
	}
	return c.members[id-1], nil
}

// PeerURL returns a member's peer URL.
func (c *Cluster) PeerURL(id uint64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, err := c.member(id); err == nil {
		return m.peerURL
	}
	return ""
}

// DataDir returns a member's data directory.
func (c *Cluster) DataDir(id uint64) string {
	return filepath.Join(c.opts.Dir, fmt.Sprintf("member-%d", id))
}

func (c *Cluster) logPath(id uint64) string {
	return filepath.Join(c.opts.Dir, fmt.Sprintf("member-%d.log", id))
}

// Start starts a member that is not running. Its output is appended to
// its log file (see LogTail).
func (c *Cluster) Start(id uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.member(id)
	if err != nil {
		return err
	}
	if m.proc != nil {
		return fmt.Errorf("cluster: member %d is already running", id)
	}
	log, err := os.OpenFile(c.logPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	cmd := c.commandLocked(m)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("cluster: starting member %d: %w", id, err)
	}
	p := &process{cmd: cmd, log: log, exited: make(chan struct{})}
	m.proc = p
	c.wg.Go(func() {
		_ = cmd.Wait() // the exit status is not interesting: members are killed
		_ = log.Close()
		close(p.exited)
	})
	return nil
}

// commandLocked returns the command that runs member m, under
// Options.CommandPrefix if set. Callers hold c.mu.
func (c *Cluster) commandLocked(m *member) *exec.Cmd {
	argv := append([]string{c.opts.Binary}, c.argsLocked(m)...)
	if c.opts.CommandPrefix != nil {
		argv = append(slices.Clone(c.opts.CommandPrefix(m.id)), argv...)
	}
	return exec.Command(argv[0], argv[1:]...)
}

// argsLocked returns a member's command line. Callers hold c.mu.
func (c *Cluster) argsLocked(m *member) []string {
	n := max(int(m.id), c.opts.Size)
	urls := make([]string, n)
	for i := range n {
		urls[i] = c.members[i].peerURL
	}
	args := []string{
		"--id", strconv.FormatUint(m.id, 10), "--cluster", strings.Join(urls, ","),
		"--port", strconv.Itoa(m.clientPort), "--data-dir", c.DataDir(m.id),
	}
	if c.opts.SnapshotCount > 0 {
		args = append(args, "--snapshot-count", strconv.FormatUint(c.opts.SnapshotCount, 10))
	}
	if m.id > uint64(c.opts.Size) {
		args = append(args, "--join")
	}
	return args
}

// Kill sends SIGKILL to a running member and waits until it is gone.
func (c *Cluster) Kill(id uint64) error {
	return c.signal(id, syscall.SIGKILL, 0)
}

// Stop sends SIGTERM to a running member and waits until it exits,
// killing it if that takes longer than 10 s.
func (c *Cluster) Stop(id uint64) error {
	return c.signal(id, syscall.SIGTERM, stopTimeout)
}

// Wait waits until a member exits on its own (for example after being
// removed from the cluster) or ctx ends.
func (c *Cluster) Wait(ctx context.Context, id uint64) error {
	m, p, err := c.running(id)
	if p == nil {
		return err
	}
	select {
	case <-p.exited:
		c.forget(m, p)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: member %d still running: %w", id, ctx.Err())
	}
}

// running returns member id and its process, nil if it is not running.
func (c *Cluster) running(id uint64) (*member, *process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.member(id)
	if err != nil {
		return nil, nil, err
	}
	return m, m.proc, nil
}

func (c *Cluster) signal(id uint64, sig syscall.Signal, grace time.Duration) error {
	m, p, err := c.running(id)
	if p == nil {
		return err
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cluster: signalling member %d: %w", id, err)
	}
	if grace > 0 {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.exited:
		case <-t.C:
			_ = p.cmd.Process.Kill()
		}
	}
	<-p.exited
	c.forget(m, p)
	return nil
}

// forget marks p as no longer m's process.
func (c *Cluster) forget(m *member, p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.proc == p {
		m.proc = nil
	}
}

// Close stops every running member (SIGTERM, then SIGKILL) and waits for
// them. It does not remove Options.Dir.
func (c *Cluster) Close() error {
	c.mu.Lock()
	n := len(c.members)
	c.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for id := range uint64(n) {
		wg.Go(func() {
			if err := c.Stop(id + 1); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	c.wg.Wait()
	c.hc.CloseIdleConnections()
	return errors.Join(errs...)
}

// LogTail returns the last n lines a member wrote to its log.
func (c *Cluster) LogTail(id uint64, n int) string {
	b, err := os.ReadFile(c.logPath(id))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
