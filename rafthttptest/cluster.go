package rafthttptest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// ClusterID is the cluster ID every member of a test cluster uses.
const ClusterID types.ID = 0x7e57

// Cluster is n Transports on loopback HTTP servers, all peers of each
// other, with every connection between them routed through a fault layer.
type Cluster struct {
	tb      testing.TB
	cfg     config
	net     *network
	members []*Member
}

// Option configures NewCluster.
type Option func(*config)

type config struct {
	raft      func(id types.ID) rafthttp.Raft
	transport func(tr *rafthttp.Transport)
	seed      uint64
}

// WithRaft makes each member deliver to newRaft(id) instead of a
// Recorder. newRaft is called once per member, not again on restart.
func WithRaft(newRaft func(id types.ID) rafthttp.Raft) Option {
	return func(c *config) { c.raft = newRaft }
}

// WithTransport lets the caller adjust each member's Transport before it
// starts, on every start including restarts. The cluster has already set
// ID, ClusterID, URLs, Raft, DialContext and Snapshotter.
func WithTransport(configure func(tr *rafthttp.Transport)) Option {
	return func(c *config) { c.transport = configure }
}

// WithSeed fixes the random choices of message drops.
func WithSeed(seed uint64) Option {
	return func(c *config) { c.seed = seed }
}

// NewCluster starts n members with IDs 1..n and registers their shutdown
// with tb.Cleanup. It fails tb if a member cannot start.
func NewCluster(tb testing.TB, n int, opts ...Option) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, cfg: config{seed: 1}, net: newNetwork()}
	for _, o := range opts {
		o(&c.cfg)
	}
	for i := 1; i <= n; i++ {
		m, err := c.newMember(types.ID(i))
		if err != nil {
			tb.Fatalf("rafthttptest: member %d: %v", i, err)
		}
		c.members = append(c.members, m)
	}
	tb.Cleanup(c.stopAll)
	for _, m := range c.members {
		if err := m.start(); err != nil {
			tb.Fatalf("rafthttptest: start member %s: %v", m.ID, err)
		}
	}
	return c
}

// newMember reserves a loopback address and builds the member's Raft.
func (c *Cluster) newMember(id types.ID) (*Member, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &Member{ID: id, URL: "http://" + l.Addr().String(), c: c, listener: l,
		snapDir: filepath.Join(c.tb.TempDir(), fmt.Sprintf("member-%d", id))}
	if err := os.MkdirAll(m.snapDir, 0o700); err != nil {
		l.Close()
		return nil, err
	}
	c.net.register(id, l.Addr().String())
	inner := rafthttp.Raft(nil)
	if c.cfg.raft != nil {
		inner = c.cfg.raft(id)
	} else {
		m.recorder = NewRecorder()
		inner = m.recorder
	}
	m.inner = inner
	m.raft = &droppingRaft{Raft: inner, self: id, faults: &c.net.faults,
		rng: rand.New(rand.NewPCG(c.cfg.seed, uint64(id)))}
	return m, nil
}

// Members returns the members in ID order.
func (c *Cluster) Members() []*Member { return c.members }

// Member returns the member with the given ID, failing the test if none.
func (c *Cluster) Member(id types.ID) *Member {
	c.tb.Helper()
	for _, m := range c.members {
		if m.ID == id {
			return m
		}
	}
	c.tb.Fatalf("rafthttptest: no member %s", id)
	return nil
}

func (c *Cluster) stopAll() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Go(m.Stop)
	}
	wg.Wait()
}

// StopMember stops a member's Transport and server, as if it crashed.
func (c *Cluster) StopMember(id types.ID) { c.Member(id).Stop() }

// RestartMember starts a stopped member again on the same URL.
func (c *Cluster) RestartMember(id types.ID) {
	c.tb.Helper()
	if err := c.Member(id).start(); err != nil {
		c.tb.Fatalf("rafthttptest: restart member %s: %v", id, err)
	}
}

// urls returns every member's URL by ID.
func (c *Cluster) urls() map[types.ID]string {
	out := make(map[types.ID]string, len(c.members))
	for _, m := range c.members {
		out[m.ID] = m.URL
	}
	return out
}

// Member is one Transport of a Cluster and the HTTP server in front of it.
type Member struct {
	// ID is the member's raft ID; URL is its peer URL.
	ID  types.ID
	URL string

	c        *Cluster
	inner    rafthttp.Raft
	raft     rafthttp.Raft
	recorder *Recorder
	snapDir  string

	mu       sync.Mutex
	listener net.Listener // reserved address while stopped
	tr       *rafthttp.Transport
	srv      *http.Server
	tracker  *streamTracker
	served   sync.WaitGroup
}

// Transport returns the member's current Transport (a new one after each
// restart), or nil while stopped.
func (m *Member) Transport() *rafthttp.Transport {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tr
}

// Recorder returns the member's Recorder, or nil if WithRaft was used.
func (m *Member) Recorder() *Recorder { return m.recorder }

// Raft returns the Raft the member delivers to.
func (m *Member) Raft() rafthttp.Raft { return m.inner }

// SnapDir is where the member's Snapshotter stores received DBs.
func (m *Member) SnapDir() string { return m.snapDir }

// start builds a Transport, serves it, and adds every other member.
func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tr != nil {
		return fmt.Errorf("member %s is running", m.ID)
	}
	l := m.listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", m.URL[len("http://"):]); err != nil {
			return err
		}
	}
	m.listener = nil
	tr, err := m.newTransport()
	if err != nil {
		l.Close()
		return err
	}
	m.tr, m.tracker = tr, newStreamTracker(tr.Handler())
	srv := &http.Server{Handler: m.tracker, ReadHeaderTimeout: 5 * time.Second}
	m.srv = srv
	fl := m.c.net.listener(m.ID, l)
	// srv, not m.srv: Stop clears m.srv, possibly before Serve starts.
	m.served.Go(func() { _ = srv.Serve(fl) })
	for id, u := range m.c.urls() {
		if id != m.ID {
			tr.AddPeer(id, []string{u})
		}
	}
	return nil
}

func (m *Member) newTransport() (*rafthttp.Transport, error) {
	urls, err := types.NewURLs([]string{m.URL})
	if err != nil {
		return nil, err
	}
	tr := &rafthttp.Transport{
		ID: m.ID, ClusterID: ClusterID, URLs: urls, Raft: m.raft,
		DialContext: m.c.net.dialer(m.ID),
		Snapshotter: snap.New(nil, m.snapDir),
	}
	if m.c.cfg.transport != nil {
		m.c.cfg.transport(tr)
	}
	return tr, tr.Start()
}

// Stop stops the member's Transport and closes its server and
// connections. It is a no-op on a stopped member.
func (m *Member) Stop() {
	m.mu.Lock()
	tr, srv, reserved := m.tr, m.srv, m.listener
	m.tr, m.srv, m.tracker, m.listener = nil, nil, nil, nil
	m.mu.Unlock()
	if reserved != nil {
		reserved.Close()
	}
	if tr == nil {
		return
	}
	tr.Stop()
	_ = srv.Close()
	m.served.Wait()
}
