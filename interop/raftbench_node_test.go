package interop

// The raft cluster benchmark's nodes: go.etcd.io/raft nodes on
// MemoryStorage (no disk), each wired to a Transport of the implementation
// under test, and driven by the least a node loop must do so that what is
// measured is raft plus the Transport: save, send, apply, advance.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	etcdrafthttp "go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp"
)

// Raft settings of the benchmark's nodes, those of an etcd server with
// its default 100 ms heartbeat and 1 s election timeout: the leader stays
// put while the machine is busy.
const (
	benchTick          = 100 * time.Millisecond
	benchElectionTick  = 10
	benchHeartbeatTick = 1
	benchMaxMsgSize    = 1 << 20 // bytes of entries per MsgApp
	benchMaxInflight   = 512     // MsgApps in flight per follower
	// benchKeepEntries is how many applied entries a node keeps below its
	// applied index when it compacts, which it does every 2×that many, so
	// its log stays short (a follower further behind would get a snapshot).
	benchKeepEntries = 8192
)

// benchClusterConfig is the shape of a benchmark cluster.
type benchClusterConfig struct {
	nodes   int
	clients int    // proposers, each with one proposal in flight
	keep    uint64 // entries kept below the applied index; benchKeepEntries if 0
}

// benchNode is one member of a benchmark cluster. Its loop goroutine owns
// the raft node's Ready handling, the storage writes and confState.
type benchNode struct {
	id      uint64
	node    raft.Node
	storage *raft.MemoryStorage
	side    *perfSide // the member's Transport and server
	// Labels the loop wears while in raft and while in Send, and a
	// Transport's goroutine while in Process (see Process).
	raftLabels, trLabels, stepLabels context.Context

	// onApply, if set before the node starts, gets the data of every
	// applied normal entry, on the loop goroutine.
	onApply func(data []byte)

	applied atomic.Uint64 // index of the last applied entry
	lead    atomic.Uint64 // the leader this node knows of
	err     atomic.Pointer[error]

	keep        uint64            // entries kept below applied when compacting
	confState   *raftpb.ConfState // loop-owned
	compactedAt uint64            // loop-owned: applied index of the last compaction

	looping     bool // the loop was started; owned by the starter
	stopc, done chan struct{}
}

// Both Transports take the same Raft interface.
var (
	_ rafthttp.Raft     = (*benchNode)(nil)
	_ etcdrafthttp.Raft = (*benchNode)(nil)
)

// newBenchNode boots raft node id of peers, labelled impl, member and
// part (raft or transport). Its Transport is not started yet.
func newBenchNode(impl string, id uint64, peers []raft.Peer, keep uint64) *benchNode {
	member := strconv.FormatUint(id, 10)
	n := &benchNode{
		id: id, storage: raft.NewMemoryStorage(), keep: keep,
		raftLabels: labelsCtx(labelImpl, impl, labelMember, member, labelPart, partRaft),
		trLabels:   labelsCtx(labelImpl, impl, labelMember, member, labelPart, partTransport),
		stepLabels: labelsCtx(labelImpl, impl, labelMember, member, labelPart, partStep),
		stopc:      make(chan struct{}), done: make(chan struct{}),
	}
	withLabels(n.raftLabels, func() {
		n.node = raft.StartNode(&raft.Config{
			ID: id, ElectionTick: benchElectionTick, HeartbeatTick: benchHeartbeatTick,
			Storage: n.storage, MaxSizePerMsg: benchMaxMsgSize, MaxInflightMsgs: benchMaxInflight,
			PreVote: true, CheckQuorum: true,
			Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
		}, peers)
	})
	return n
}

// startTransport starts the node's Transport and server under its
// transport labels; net connects in-memory Transports (implInMem).
func (n *benchNode) startTransport(tb testing.TB, impl string, net *inMemNet) {
	tb.Helper()
	withLabels(n.trLabels, func() {
		if impl == implInMem {
			n.side = net.startMember(n)
			return
		}
		n.side = startPerfMember(tb, impl, n.id, tb.TempDir(), n)
	})
}

// start starts the node's loop under its raft labels.
func (n *benchNode) start() {
	n.looping = true
	withLabels(n.raftLabels, func() { go n.run() }) // owned: stop waits for done
}

// stop ends the loop, then the raft node, then the Transport and server.
// It is called once, by the goroutine that started the node.
func (n *benchNode) stop() {
	if n.looping {
		close(n.stopc)
		<-n.done
	}
	n.node.Stop()
	if n.side != nil {
		n.side.close()
	}
}

// run ticks the node and handles its Readys until stopped.
func (n *benchNode) run() {
	defer close(n.done)
	ticker := time.NewTicker(benchTick)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n.node.Tick()
		case rd := <-n.node.Ready():
			n.handleReady(rd)
		case <-n.stopc:
			return
		}
	}
}

// handleReady saves the Ready's state and entries, sends its messages,
// applies its committed entries and advances the node.
func (n *benchNode) handleReady(rd raft.Ready) {
	if !raft.IsEmptySnap(rd.Snapshot) {
		n.check(n.storage.ApplySnapshot(rd.Snapshot))
		n.confState = rd.Snapshot.GetMetadata().GetConfState()
		n.applied.Store(rd.Snapshot.GetMetadata().GetIndex())
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		n.check(n.storage.SetHardState(rd.HardState))
	}
	n.check(n.storage.Append(rd.Entries))
	if rd.SoftState != nil {
		n.lead.Store(rd.SoftState.Lead)
	}
	if len(rd.Messages) > 0 {
		pprof.SetGoroutineLabels(n.trLabels)
		n.side.tr.Send(rd.Messages)
		pprof.SetGoroutineLabels(n.raftLabels)
	}
	for _, e := range rd.CommittedEntries {
		n.apply(e)
	}
	n.node.Advance()
	n.maybeCompact()
}

// apply applies one committed entry: conf changes to the node, normal
// entries' data to onApply.
func (n *benchNode) apply(e *raftpb.Entry) {
	switch e.GetType() {
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		n.check(proto.Unmarshal(e.GetData(), &cc))
		n.confState = n.node.ApplyConfChange(&cc)
	case raftpb.EntryNormal:
		if n.onApply != nil && len(e.GetData()) > 0 {
			n.onApply(e.GetData())
		}
	}
	n.applied.Store(e.GetIndex())
}

// maybeCompact drops the log below keep entries before the applied index
// once 2×keep were applied since it last did, behind a snapshot (without
// data: nothing in the benchmark reads the state machine) that a lagging
// follower would be sent.
func (n *benchNode) maybeCompact() {
	applied := n.applied.Load()
	if n.confState == nil || applied < n.compactedAt+2*n.keep {
		return
	}
	if _, err := n.storage.CreateSnapshot(applied, n.confState, nil); err != nil {
		n.check(err)
		return
	}
	n.check(n.storage.Compact(applied - n.keep))
	n.compactedAt = applied
}

// check records the first error for failure.
func (n *benchNode) check(err error) {
	if err != nil {
		err = fmt.Errorf("node %d: %w", n.id, err)
		n.err.CompareAndSwap(nil, &err)
	}
}

// failure returns the first error the loop met, if any.
func (n *benchNode) failure() error {
	if p := n.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Process steps m into the raft node. Step hands m to raft's loop over an
// unbuffered channel, so it often parks the calling goroutine until the
// loop takes it: a cost of raft's API that any Transport pays once per
// message. It is labelled on its own (step), apart from the Transport's
// own work; every goroutine of a Transport that calls Process wears the
// node's transport labels, which it gets back afterwards.
func (n *benchNode) Process(ctx context.Context, m *raftpb.Message) error {
	pprof.SetGoroutineLabels(n.stepLabels)
	defer pprof.SetGoroutineLabels(n.trLabels)
	return n.node.Step(ctx, m)
}

// IsIDRemoved is false: members are never removed.
func (n *benchNode) IsIDRemoved(uint64) bool { return false }

// ReportUnreachable tells the raft node.
func (n *benchNode) ReportUnreachable(id uint64) { n.node.ReportUnreachable(id) }

// ReportSnapshot tells the raft node.
func (n *benchNode) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	n.node.ReportSnapshot(id, status)
}

// benchCluster is benchNodes of one implementation, every pair
// connected, with node 1 elected leader and clients proposing through it.
type benchCluster struct {
	impl         string
	nodes        []*benchNode
	clients      *proposers
	clientLabels context.Context
}

// startBenchCluster starts cfg.nodes nodes, connects them, elects node 1
// and waits until every node follows it. It stops at cleanup.
func startBenchCluster(tb testing.TB, impl string, cfg benchClusterConfig) *benchCluster {
	tb.Helper()
	peers := make([]raft.Peer, cfg.nodes)
	for i := range peers {
		peers[i] = raft.Peer{ID: uint64(i + 1)}
	}
	c := &benchCluster{
		impl: impl, clients: newProposers(cfg.clients),
		clientLabels: labelsCtx(labelImpl, impl, labelPart, partClients),
	}
	tb.Cleanup(c.stop)
	net := &inMemNet{nodes: make(map[uint64]*benchNode)}
	for _, p := range peers {
		n := newBenchNode(impl, p.ID, peers, cmp.Or(cfg.keep, benchKeepEntries))
		c.nodes = append(c.nodes, n)
		net.nodes[n.id] = n
		n.startTransport(tb, impl, net)
	}
	c.leader().onApply = c.clients.applied
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if from != to {
				withLabels(from.trLabels, func() { from.side.tr.addPeer(to.id, to.side.url()) })
			}
		}
	}
	for _, n := range c.nodes {
		n.start()
	}
	c.elect(tb)
	return c
}

// elect makes node 1 the leader and waits until every node follows it.
// Raft refuses to campaign before the bootstrap's conf changes are
// applied, so it waits for those first; if another node won an election
// meanwhile, it hands its leadership to node 1.
func (c *benchCluster) elect(tb testing.TB) {
	tb.Helper()
	waitFor(tb, 10*time.Second, c.impl+" nodes applying their bootstrap", func() bool {
		for _, n := range c.nodes {
			if n.applied.Load() < uint64(len(c.nodes)) {
				return false
			}
		}
		return true
	})
	if err := c.leader().node.Campaign(context.Background()); err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, 20*time.Second, c.impl+" cluster electing node 1", func() bool {
		lead := c.nodes[0].lead.Load()
		for _, n := range c.nodes {
			if n.lead.Load() != lead {
				return false
			}
		}
		if lead != 0 && lead != c.leader().id {
			c.nodes[lead-1].node.TransferLeadership(context.Background(), lead, c.leader().id)
		}
		return lead == c.leader().id
	})
}

// leader is node 1, which the cluster elected.
func (c *benchCluster) leader() *benchNode { return c.nodes[0] }

// stop stops every node.
func (c *benchCluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

// failure returns the nodes' first errors, and an error if the leader
// changed.
func (c *benchCluster) failure() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.failure())
		if l := n.lead.Load(); l != c.leader().id {
			errs = append(errs, fmt.Errorf("%s: node %d follows %d, not the leader 1", c.impl, n.id, l))
		}
	}
	return errors.Join(errs...)
}
