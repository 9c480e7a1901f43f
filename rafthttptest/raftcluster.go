package rafthttptest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/types"
)

// Raft settings of every node of a RaftCluster: an election takes 10 to
// 20 ticks, a leader heartbeats every tick.
const (
	electionTick  = 10
	heartbeatTick = 1
	// DefaultTickInterval is how often RaftCluster nodes tick unless
	// WithTickInterval says otherwise.
	DefaultTickInterval = 10 * time.Millisecond
)

// proposalHeader is the size of the proposal ID RaftCluster puts in front
// of every proposal's data, so the proposer can tell when it is applied.
const proposalHeader = 8

// ErrNodeStopped is returned by a RaftCluster's Propose through a node
// that is stopped or stops before the proposal is applied.
var ErrNodeStopped = errors.New("rafthttptest: raft node stopped")

// RaftCluster is a Cluster whose members run real go.etcd.io/raft nodes,
// each wired to its member's Transport and applying committed entries to
// a small state machine that records the data of normal entries in order.
// Faults are injected through Cluster().
type RaftCluster struct {
	tb    testing.TB
	cfg   raftConfig
	c     *Cluster
	nodes []*raftNode // nodes[i] has ID i+1
	// proposals numbers proposals cluster-wide.
	proposals atomic.Uint64
}

// RaftOption configures NewRaftCluster.
type RaftOption func(*raftConfig)

type raftConfig struct {
	tick       time.Duration
	cluster    []Option
	snapshotDB SnapshotDB
}

// WithTickInterval makes every node tick every d instead of
// DefaultTickInterval.
func WithTickInterval(d time.Duration) RaftOption {
	return func(c *raftConfig) { c.tick = d }
}

// WithClusterOptions passes opts to the underlying NewCluster. A WithRaft
// among them is overridden: the raft nodes are the members' Raft.
func WithClusterOptions(opts ...Option) RaftOption {
	return func(c *raftConfig) { c.cluster = append(c.cluster, opts...) }
}

// NewRaftCluster starts a Cluster of n members and a raft node on each,
// bootstrapped with all n as voters, and registers their shutdown with
// tb.Cleanup. Nodes use MemoryStorage, PreVote and CheckQuorum.
func NewRaftCluster(tb testing.TB, n int, opts ...RaftOption) *RaftCluster {
	tb.Helper()
	rc := &RaftCluster{tb: tb, cfg: raftConfig{tick: DefaultTickInterval}}
	for _, o := range opts {
		o(&rc.cfg)
	}
	peers := make([]raft.Peer, n)
	for i := range n {
		peers[i] = raft.Peer{ID: uint64(i + 1)}
		rc.nodes = append(rc.nodes, &raftNode{id: types.ID(i + 1), rc: rc, storage: raft.NewMemoryStorage()})
	}
	copts := append(slices.Clone(rc.cfg.cluster), WithRaft(func(id types.ID) rafthttp.Raft {
		return rc.nodes[id-1]
	}))
	rc.c = NewCluster(tb, n, copts...)
	tb.Cleanup(rc.stopAll)
	for _, nd := range rc.nodes {
		nd.member = rc.c.Member(nd.id)
		nd.start(func(c *raft.Config) raft.Node { return raft.StartNode(c, peers) })
	}
	return rc
}

// Cluster returns the underlying cluster, for fault injection.
func (rc *RaftCluster) Cluster() *Cluster { return rc.c }

// node returns the node with the given ID, failing the test if none.
func (rc *RaftCluster) node(id types.ID) *raftNode {
	rc.tb.Helper()
	if id < 1 || int(id) > len(rc.nodes) {
		rc.tb.Fatalf("rafthttptest: no raft node %s", id)
	}
	return rc.nodes[id-1]
}

func (rc *RaftCluster) stopAll() {
	var wg sync.WaitGroup
	for _, n := range rc.nodes {
		wg.Go(n.stop)
	}
	wg.Wait()
}

// StopNode stops a member's Transport, then its raft node, as if the
// process crashed. Its storage survives. It is a no-op on a stopped node.
func (rc *RaftCluster) StopNode(id types.ID) {
	n := rc.node(id)
	rc.c.StopMember(id)
	n.stop()
}

// RestartNode restarts a stopped node from its storage, as a process
// restarting with its disk intact: its state machine is rebuilt by
// replaying the committed log. Its Transport is restarted too.
func (rc *RaftCluster) RestartNode(id types.ID) {
	rc.tb.Helper()
	n := rc.node(id)
	if n.running() {
		rc.tb.Fatalf("rafthttptest: raft node %s is running", id)
	}
	n.start(raft.RestartNode)
	rc.c.RestartMember(id)
}

// Running reports whether the node with the given ID is running.
func (rc *RaftCluster) Running(id types.ID) bool { return rc.node(id).running() }

// Applied returns the data of the normal entries node id has applied, in
// order. A restarted node starts again from nothing and replays its log.
func (rc *RaftCluster) Applied(id types.ID) [][]byte {
	n := rc.node(id)
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.applied)
}

// Propose proposes data through the leader, or the first running node
// while there is none, and waits until that node has applied it. See
// ProposeVia.
func (rc *RaftCluster) Propose(ctx context.Context, data []byte) error {
	id := rc.Leader()
	for _, n := range rc.nodes {
		if id == 0 && n.running() {
			id = n.id
		}
	}
	if id == 0 {
		return ErrNodeStopped
	}
	return rc.ProposeVia(ctx, id, data)
}

// ProposeVia proposes data through node id and waits until that node has
// applied it, so nil means the entry is committed. It fails when ctx ends
// first (the entry may still commit later), when raft drops the proposal,
// and with ErrNodeStopped if the node is or gets stopped.
func (rc *RaftCluster) ProposeVia(ctx context.Context, id types.ID, data []byte) error {
	n := rc.node(id)
	pid := rc.proposals.Add(1)
	inc, applied := n.expect(pid)
	if inc == nil {
		return ErrNodeStopped
	}
	defer n.forget(inc, pid)
	buf := binary.BigEndian.AppendUint64(make([]byte, 0, proposalHeader+len(data)), pid)
	if err := inc.node.Propose(ctx, append(buf, data...)); err != nil {
		return fmt.Errorf("rafthttptest: propose through %s: %w", id, err)
	}
	select {
	case <-applied:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rafthttptest: proposal through %s not applied: %w", id, ctx.Err())
	case <-inc.stopc:
		return ErrNodeStopped
	}
}

// Leader returns the running node that believes it leads with the highest
// term, or 0 if none does.
func (rc *RaftCluster) Leader() types.ID {
	var lead types.ID
	var term uint64
	for _, n := range rc.nodes {
		s := n.state()
		if s.running && s.leader && s.term >= term {
			lead, term = n.id, s.term
		}
	}
	return lead
}

// WaitLeader waits until a running node leads and a majority of all nodes
// (itself included) follow it, failing tb after timeout. It returns the
// leader.
func (rc *RaftCluster) WaitLeader(tb testing.TB, timeout time.Duration) types.ID {
	tb.Helper()
	var lead types.ID
	WaitFor(tb, timeout, "raft leader", func() bool {
		lead = rc.Leader()
		followers := 0
		for _, n := range rc.nodes {
			if s := n.state(); s.running && s.lead == uint64(lead) {
				followers++
			}
		}
		return lead != 0 && followers > len(rc.nodes)/2
	})
	return lead
}

// WaitConverged waits until every running node has applied everything
// any of them knows to be committed and all applied the same sequence,
// failing tb after timeout. It returns how long that took.
func (rc *RaftCluster) WaitConverged(tb testing.TB, timeout time.Duration) time.Duration {
	tb.Helper()
	return WaitFor(tb, timeout, "raft nodes converged", rc.converged)
}

func (rc *RaftCluster) converged() bool {
	var states []nodeState
	var seqs [][][]byte
	var commit uint64
	for _, n := range rc.nodes {
		if s, seq := n.stateAndApplied(); s.running {
			states = append(states, s)
			seqs = append(seqs, seq)
			commit = max(commit, s.commit)
		}
	}
	if len(states) == 0 {
		return false
	}
	for i, s := range states {
		if s.appliedIndex < commit || s.appliedIndex != states[0].appliedIndex ||
			!slices.EqualFunc(seqs[i], seqs[0], bytes.Equal) {
			return false
		}
	}
	return true
}

// raftNode is one member's raft node and state machine. It is the
// member's rafthttp.Raft across restarts.
type raftNode struct {
	// Immutable after NewRaftCluster:
	id      types.ID
	rc      *RaftCluster
	member  *Member
	storage *raft.MemoryStorage // the node's "disk": kept across restarts

	// Guarded by mu:
	mu           sync.Mutex
	inc          *incarnation // nil while stopped
	applied      [][]byte
	appliedIndex uint64
	soft         raft.SoftState
	term, commit uint64
	confState    *raftpb.ConfState
}

var _ rafthttp.Raft = (*raftNode)(nil)

// incarnation is one run of a node, from start to stop.
type incarnation struct {
	node  raft.Node
	stopc chan struct{} // closed to stop the loop
	done  chan struct{} // closed when the loop has returned
	// waiters maps proposal IDs to channels closed once applied. Guarded
	// by the raftNode's mu.
	waiters map[uint64]chan struct{}
}

// nodeState is a snapshot of what a node's Ready loop has seen.
type nodeState struct {
	running      bool
	leader       bool
	lead         uint64
	term, commit uint64
	appliedIndex uint64
}

func (n *raftNode) state() nodeState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stateLocked()
}

func (n *raftNode) stateLocked() nodeState {
	return nodeState{
		running: n.inc != nil, leader: n.inc != nil && n.soft.RaftState == raft.StateLeader,
		lead: n.soft.Lead, term: n.term, commit: n.commit, appliedIndex: n.appliedIndex,
	}
}

// stateAndApplied is state and the applied sequence, read together.
func (n *raftNode) stateAndApplied() (nodeState, [][]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stateLocked(), slices.Clone(n.applied)
}

func (n *raftNode) running() bool { return n.current() != nil }

// current returns the running incarnation, or nil.
func (n *raftNode) current() *incarnation {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.inc
}

// discardRaftLogger keeps raft's own log lines out of the test output.
func discardRaftLogger() raft.Logger { return &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)} }

// start boots a node with boot (raft.StartNode or raft.RestartNode) on the
// node's storage and starts its loop. The state machine starts empty; a
// restarted node replays the committed log into it.
func (n *raftNode) start(boot func(*raft.Config) raft.Node) {
	cfg := &raft.Config{
		ID: uint64(n.id), ElectionTick: electionTick, HeartbeatTick: heartbeatTick,
		Storage: n.storage, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		PreVote: true, CheckQuorum: true, Logger: discardRaftLogger(),
	}
	hs, _, _ := n.storage.InitialState()
	inc := &incarnation{node: boot(cfg), stopc: make(chan struct{}), done: make(chan struct{}),
		waiters: make(map[uint64]chan struct{})}
	n.mu.Lock()
	n.inc, n.applied, n.appliedIndex = inc, nil, 0
	n.soft, n.term, n.commit = raft.SoftState{}, hs.GetTerm(), hs.GetCommit()
	n.mu.Unlock()
	n.restoreFromStorage()
	go n.run(inc) // owned: stop waits for inc.done
}

// stop ends the node's loop and raft node; it is a no-op while stopped.
func (n *raftNode) stop() {
	n.mu.Lock()
	inc := n.inc
	n.inc = nil
	n.mu.Unlock()
	if inc == nil {
		return
	}
	close(inc.stopc)
	<-inc.done
	inc.node.Stop()
}

// run is the node's loop: it ticks the node and handles each Ready.
func (n *raftNode) run(inc *incarnation) {
	defer close(inc.done)
	ticker := time.NewTicker(n.rc.cfg.tick)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			inc.node.Tick()
		case rd := <-inc.node.Ready():
			n.handleReady(inc, rd)
		case <-inc.stopc:
			return
		}
	}
}

// handleReady saves, sends and applies one Ready, in that order, then
// advances the node.
func (n *raftNode) handleReady(inc *incarnation, rd raft.Ready) {
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			n.rc.tb.Errorf("rafthttptest: node %s: save hard state: %v", n.id, err)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		n.installSnapshot(rd.Snapshot)
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		n.rc.tb.Errorf("rafthttptest: node %s: append entries: %v", n.id, err)
	}
	n.mu.Lock()
	if rd.SoftState != nil {
		n.soft = *rd.SoftState
	}
	if rd.HardState != nil {
		n.term, n.commit = rd.HardState.GetTerm(), rd.HardState.GetCommit()
	}
	n.mu.Unlock()
	if tr := n.member.Transport(); tr != nil {
		n.sendAll(tr, inc.node, rd.Messages)
	}
	for _, e := range rd.CommittedEntries {
		n.apply(inc, e)
	}
	inc.node.Advance()
}

// apply applies one committed entry: conf changes to the node, normal
// entries with data to the state machine.
func (n *raftNode) apply(inc *incarnation, e *raftpb.Entry) {
	var cs *raftpb.ConfState
	switch e.GetType() {
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err == nil {
			cs = inc.node.ApplyConfChange(&cc)
		}
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err == nil {
			cs = inc.node.ApplyConfChange(&cc)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if cs != nil {
		n.confState = proto.CloneOf(cs)
	}
	n.appliedIndex = e.GetIndex()
	data := e.GetData()
	if e.GetType() != raftpb.EntryNormal || len(data) < proposalHeader {
		return
	}
	n.applied = append(n.applied, bytes.Clone(data[proposalHeader:]))
	pid := binary.BigEndian.Uint64(data)
	if c, ok := inc.waiters[pid]; ok {
		close(c)
		delete(inc.waiters, pid)
	}
}

// expect registers a waiter for proposal pid on the running incarnation,
// which it returns (nil while stopped).
func (n *raftNode) expect(pid uint64) (*incarnation, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.inc == nil {
		return nil, nil
	}
	c := make(chan struct{})
	n.inc.waiters[pid] = c
	return n.inc, c
}

func (n *raftNode) forget(inc *incarnation, pid uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(inc.waiters, pid)
}

// Process steps m into the running node.
func (n *raftNode) Process(ctx context.Context, m *raftpb.Message) error {
	inc := n.current()
	if inc == nil {
		return ErrNodeStopped
	}
	return inc.node.Step(ctx, m)
}

// IsIDRemoved is always false: members are never removed.
func (n *raftNode) IsIDRemoved(uint64) bool { return false }

// ReportUnreachable tells the running node.
func (n *raftNode) ReportUnreachable(id uint64) {
	if inc := n.current(); inc != nil {
		inc.node.ReportUnreachable(id)
	}
}

// ReportSnapshot tells the running node.
func (n *raftNode) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	if inc := n.current(); inc != nil {
		inc.node.ReportSnapshot(id, status)
	}
}
