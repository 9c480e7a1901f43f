package interop

// BenchmarkRaftCluster: what a user of a Transport feels. Three raft nodes
// in one process (MemoryStorage, no disk), every pair connected by the
// Transport under test over loopback HTTP, and 64 clients proposing
// through the leader, each waiting for its proposal to be applied there
// before proposing the next. One op is one committed proposal.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
)

// Shape of BenchmarkRaftCluster.
const (
	raftBenchNodes   = 3
	raftBenchClients = 64
	// proposalWait bounds the wait for one proposal to be applied: the
	// run fails rather than measure a cluster that lost its leader.
	proposalWait = 10 * time.Second
	// proposalHeader is the client index (4 bytes) and the proposal's
	// sequence number (8 bytes) at the start of every proposal's data.
	proposalHeader = 12
)

// raftBenchSizes are the value sizes of BenchmarkRaftCluster.
func raftBenchSizes() []int { return []int{64, 1 << 10} }

// BenchmarkRaftCluster measures committed proposals per second (commits/s)
// and the time from Propose to apply on the leader (p50-ns, p99-ns), with
// the process's CPU per proposal and its split between the raft nodes, the
// Transports and raft's Step called by them (see cpuSplit and
// perf_cpu_test.go).
func BenchmarkRaftCluster(b *testing.B) { benchRaftClusters(b, benchImpls) }

// benchRaftClusters runs BenchmarkRaftCluster's cases on a cluster of each
// of impls, all up throughout.
func benchRaftClusters(b *testing.B, impls []string) {
	cfg := benchClusterConfig{nodes: raftBenchNodes, clients: raftBenchClients}
	clusters := make(map[string]*benchCluster)
	for _, impl := range impls {
		clusters[impl] = startBenchCluster(b, impl, cfg)
	}
	for _, size := range raftBenchSizes() {
		name := fmt.Sprintf("nodes=%d/clients=%d/size=%s", cfg.nodes, cfg.clients, sizeName(size))
		b.Run(name, func(b *testing.B) {
			for _, impl := range impls {
				b.Run("impl="+impl, func(b *testing.B) { benchProposals(b, clusters[impl], size) })
			}
		})
	}
}

func benchProposals(b *testing.B, c *benchCluster, size int) {
	if _, err := c.propose(2*len(c.clients.slots), size); err != nil { // warm up this size
		b.Fatalf("%s: %v", c.impl, err)
	}
	cpu, err := startCPUMeter()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	flushes := &c.leader().side.server.flushes[streamMsgAppV2]
	flushed := flushes.Load()
	b.ResetTimer()
	lat, err := c.propose(b.N, size)
	b.StopTimer()
	flushed = flushes.Load() - flushed
	use, cpuErr := cpu.stop()
	if err = errors.Join(err, cpuErr, c.failure()); err != nil {
		b.Fatalf("%s: %v", c.impl, err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(float64(percentile(lat, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(lat, 0.99).Nanoseconds()), "p99-ns")
	reportCPU(b, use, b.N, "op", c.cpuSplit())
	// The leader's flushes of its msgappv2 streams to both followers.
	b.ReportMetric(float64(flushed)/float64(b.N), "flushes/op")
}

// cpuSplit names the cluster's parts for reportCPU: raft is the three raft
// nodes and their loops (saving, applying, and waking clients on the
// leader); transport is the three Transports with their servers and Send
// calls; step is raft's Node.Step called from the Transports' goroutines,
// handing each received message to raft's loop (see benchNode.Process).
// The clients' own CPU, the garbage collector's background work and the
// runtime make up the rest of cpu-ns/op.
func (c *benchCluster) cpuSplit() map[string][]string {
	return map[string][]string{
		partRaft:      {labelImpl, c.impl, labelPart, partRaft},
		partTransport: {labelImpl, c.impl, labelPart, partTransport},
		partStep:      {labelImpl, c.impl, labelPart, partStep},
	}
}

// propose makes n proposals of size bytes through the leader with every
// client at once, and returns the latency of each, from Propose to apply
// on the leader.
func (c *benchCluster) propose(n, size int) ([]time.Duration, error) {
	clients := len(c.clients.slots)
	var tickets atomic.Int64
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	withLabels(c.clientLabels, func() {
		for i := range clients {
			wg.Go(func() {
				lats[i] = make([]time.Duration, 0, n/clients+1)
				errs[i] = c.clients.run(c.leader().node, i, size, &tickets, int64(n), &lats[i])
			})
		}
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", c.impl, err)
	}
	return slices.Concat(lats...), nil
}

// proposers are a cluster's clients. Each has at most one proposal in
// flight; the leader's loop wakes it when that proposal is applied.
type proposers struct {
	slots []proposerSlot
}

type proposerSlot struct {
	want    atomic.Uint64 // sequence number of the proposal in flight; 0 if none
	applied chan struct{} // one token per applied proposal (capacity 1)
	seq     uint64        // last sequence number used; owned by the client
}

func newProposers(n int) *proposers {
	p := &proposers{slots: make([]proposerSlot, n)}
	for i := range p.slots {
		p.slots[i].applied = make(chan struct{}, 1)
	}
	return p
}

// applied is the leader's onApply: it wakes the client whose proposal
// data is, if that client still waits for it.
func (p *proposers) applied(data []byte) {
	if len(data) < proposalHeader {
		return
	}
	i := binary.BigEndian.Uint32(data)
	if i >= uint32(len(p.slots)) {
		return
	}
	s := &p.slots[i]
	if s.want.CompareAndSwap(binary.BigEndian.Uint64(data[4:]), 0) {
		s.applied <- struct{}{} // never blocks: one token per proposal, taken before the next
	}
}

// run is client i: while tickets last (n in all, shared by the clients),
// it proposes a value of size bytes through node and waits until the
// leader applied it, appending each latency to lat.
func (p *proposers) run(node raft.Node, i, size int, tickets *atomic.Int64, n int64, lat *[]time.Duration) error {
	s := &p.slots[i]
	timer := time.NewTimer(proposalWait)
	defer timer.Stop()
	for tickets.Add(1) <= n {
		s.seq++
		data := make([]byte, max(size, proposalHeader)) // raft keeps it: one per proposal
		binary.BigEndian.PutUint32(data, uint32(i))
		binary.BigEndian.PutUint64(data[4:], s.seq)
		s.want.Store(s.seq)
		timer.Reset(proposalWait)
		start := time.Now()
		if err := node.Propose(context.Background(), data); err != nil {
			s.want.Store(0)
			return fmt.Errorf("client %d: propose: %w", i, err)
		}
		select {
		case <-s.applied:
			*lat = append(*lat, time.Since(start))
		case <-timer.C:
			if !s.want.CompareAndSwap(s.seq, 0) {
				<-s.applied // applied just now: take the token
			}
			return fmt.Errorf("client %d: proposal %d not applied on the leader within %v", i, s.seq, proposalWait)
		}
	}
	return nil
}

// TestRaftClusterCommits runs the benchmark's cluster briefly on each
// Transport: every proposal is applied on the leader once, every node
// applies as far as the leader, the MsgApps took the msgappv2 streams,
// and the leader never changed. A small keep makes the nodes compact
// their logs several times.
func TestRaftClusterCommits(t *testing.T) {
	for _, impl := range benchImpls {
		t.Run(impl, func(t *testing.T) {
			c := checkRaftClusterCommits(t, impl)
			const least = 2 * raftCheckProposals * 64
			if got := c.leader().side.server.streamBytes[streamMsgAppV2].Load(); got < least {
				t.Errorf("leader's msgappv2 streams carried %d bytes, want at least %d", got, least)
			}
		})
	}
}

// TestRaftClusterFloorCommits checks BenchmarkRaftClusterFloor's in-memory
// stand-in the same way (it has no streams). Under -race it also checks
// that raft changes no message or entry it has handed out, which the
// stand-in relies on: both nodes hold them.
func TestRaftClusterFloorCommits(t *testing.T) {
	checkRaftClusterCommits(t, implInMem)
}

// raftCheckProposals is how many proposals of each size
// checkRaftClusterCommits makes.
const raftCheckProposals = 600

// checkRaftClusterCommits runs a cluster of impl with 8 clients through
// raftCheckProposals proposals of each size and checks the outcome; it
// returns the cluster, which stops at cleanup.
func checkRaftClusterCommits(t *testing.T, impl string) *benchCluster {
	t.Helper()
	c := startBenchCluster(t, impl, benchClusterConfig{nodes: raftBenchNodes, clients: 8, keep: 64})
	for _, size := range raftBenchSizes() {
		lat, err := c.propose(raftCheckProposals, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(lat) != raftCheckProposals || slices.Min(lat) <= 0 {
			t.Fatalf("size %d: %d latencies (least %v), want %d positive", size, len(lat), slices.Min(lat), raftCheckProposals)
		}
	}
	want := c.leader().applied.Load()
	waitFor(t, 10*time.Second, "every node applying as far as the leader", func() bool {
		for _, n := range c.nodes {
			if n.applied.Load() < want {
				return false
			}
		}
		return true
	})
	if err := c.failure(); err != nil {
		t.Fatal(err)
	}
	if first, _ := c.leader().storage.FirstIndex(); first <= 1 {
		t.Errorf("leader's log starts at %d after %d entries: never compacted", first, want)
	}
	return c
}
