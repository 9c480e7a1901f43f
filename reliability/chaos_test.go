package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/types"
)

// chaosSeed returns RAFTHTTP_CHAOS_SEED if set, else a fresh seed.
func chaosSeed(t *testing.T) uint64 {
	if s := os.Getenv("RAFTHTTP_CHAOS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RAFTHTTP_CHAOS_SEED: %v", err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// ledger records every proposal and whether Propose acknowledged it.
type ledger struct {
	mu       sync.Mutex
	attempts int
	acked    map[string]bool
	// order lists each worker's acknowledged proposals in the order they
	// were made.
	order map[int][]string
}

func (l *ledger) record(worker int, data string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempts++
	if ok {
		l.acked[data] = true
		l.order[worker] = append(l.order[worker], data)
	}
}

// proposer proposes through random running members, one proposal at a
// time, until stop is closed.
func proposer(rc *rafthttptest.RaftCluster, worker int, rng *rand.Rand, l *ledger, stop <-chan struct{}) {
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-pace.C:
		}
		id := types.ID(rng.IntN(3) + 1)
		if !rc.Running(id) {
			continue
		}
		data := fmt.Sprintf("w%d-%d", worker, n)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rc.ProposeVia(ctx, id, []byte(data))
		cancel()
		l.record(worker, data, err == nil)
	}
}

// TestRaftUnderChaos runs three raft nodes under random partitions,
// drops, latency, resets, blackholes and restarts while proposals keep
// coming through random members, then heals everything: the nodes must
// converge on one sequence holding every acknowledged proposal once, in
// the order each proposer made them.
func TestRaftUnderChaos(t *testing.T) {
	duration := 30 * time.Second
	if testing.Short() {
		duration = 10 * time.Second
	}
	seed := chaosSeed(t)
	t.Logf("seed %d (rerun with RAFTHTTP_CHAOS_SEED=%d), %v of faults", seed, seed, duration)
	rc := rafthttptest.NewRaftCluster(t, 3, rafthttptest.WithClusterOptions(
		rafthttptest.WithSeed(seed),
		rafthttptest.WithTransport(func(tr *rafthttp.Transport) {
			tr.ConnReadTimeout = time.Second
			tr.DialRetryFrequency = 10
		})))
	rc.WaitLeader(t, 10*time.Second)

	l := &ledger{acked: make(map[string]bool), order: make(map[int][]string)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		rng := rand.New(rand.NewPCG(seed, uint64(w+1)))
		wg.Go(func() { proposer(rc, w, rng, l, stop) })
	}
	s := &scheduler{rc: rc, rng: rand.New(rand.NewPCG(seed, 0)), down: make(map[types.ID]int), counts: make(map[string]int)}
	lagging := s.run(duration)
	close(stop)
	wg.Wait()

	lag := make([]int, 3)
	for i := range lag {
		lag[i] = len(rc.Applied(types.ID(i + 1)))
	}
	t.Logf("at the end of the faults (node %s isolated for the last second): entries applied by nodes 1..3: %v",
		lagging, lag)
	healed := time.Now()
	s.healAll()
	lead := rc.WaitLeader(t, 15*time.Second)
	rc.WaitConverged(t, 20*time.Second)
	converged := time.Since(healed)
	t.Logf("faults: %d injected %v", s.total(), s.counts)
	checkChaosOutcome(t, rc, l)
	t.Logf("after healing: leader %s, converged in %v", lead, converged)
}

// checkChaosOutcome checks the converged sequence against the ledger.
func checkChaosOutcome(t *testing.T, rc *rafthttptest.RaftCluster, l *ledger) {
	t.Helper()
	final := rc.Applied(1)
	pos := make(map[string]int, len(final))
	for i, d := range final {
		if _, dup := pos[string(d)]; dup {
			t.Errorf("%q applied twice", d)
		}
		pos[string(d)] = i
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for data := range l.acked {
		if _, ok := pos[data]; !ok {
			t.Errorf("acknowledged proposal %q missing from the converged sequence", data)
		}
	}
	for w, acked := range l.order {
		for i := 1; i < len(acked); i++ {
			if pos[acked[i]] < pos[acked[i-1]] {
				t.Errorf("worker %d: %q applied before %q, which was acknowledged first", w, acked[i], acked[i-1])
			}
		}
	}
	t.Logf("proposals: %d attempted, %d acknowledged, %d applied (%d of them unacknowledged)",
		l.attempts, len(l.acked), len(final), len(final)-len(l.acked))
	if len(l.acked) == 0 {
		t.Error("no proposal was acknowledged during the chaos")
	}
}

// scheduler injects one random fault per step.
type scheduler struct {
	rc     *rafthttptest.RaftCluster
	rng    *rand.Rand
	step   int
	down   map[types.ID]int // stopped node → step it stopped at
	counts map[string]int
}

func (s *scheduler) total() int {
	n := 0
	for k, v := range s.counts {
		if k != "heal-all" && k != "heal-link" && k != "restart" {
			n += v
		}
	}
	return n
}

// run injects faults every 250ms for d. In the last second only one
// node is cut off, so the others make progress it must catch up on.
func (s *scheduler) run(d time.Duration) types.ID {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(d - time.Second); time.Now().Before(end); s.step++ {
		<-tick.C
		s.restartDue()
		s.inject()
	}
	s.healAll()
	lagging := types.ID(s.rng.IntN(3) + 1)
	s.rc.Cluster().Isolate(lagging)
	s.counts["isolate"]++
	for range 4 {
		<-tick.C
	}
	return lagging
}

// restartDue restarts nodes that have been down for three steps.
func (s *scheduler) restartDue() {
	for id, since := range s.down {
		if s.step-since >= 3 {
			s.rc.RestartNode(id)
			delete(s.down, id)
			s.counts["restart"]++
		}
	}
}

// pair returns two distinct random members.
func (s *scheduler) pair() (types.ID, types.ID) {
	a := types.ID(s.rng.IntN(3) + 1)
	b := types.ID((int(a)+s.rng.IntN(2))%3 + 1)
	return a, b
}

// inject applies one fault, or heals, chosen at random.
func (s *scheduler) inject() {
	c := s.rc.Cluster()
	a, b := s.pair()
	var kind string
	switch p := s.rng.IntN(100); {
	case p < 18:
		kind = "partition"
		c.Partition(a, b)
	case p < 26:
		kind = "partition-both"
		c.PartitionBoth(a, b)
	case p < 32:
		kind = "isolate"
		c.Isolate(a)
	case p < 46:
		kind = "drop"
		c.DropMessages(a, b, 0.05+0.45*s.rng.Float64())
	case p < 58:
		kind = "latency"
		c.SetLatency(a, b, time.Duration(1+s.rng.IntN(30))*time.Millisecond)
	case p < 66:
		kind = "reset"
		c.Reset(a, b)
	case p < 72:
		kind = "blackhole"
		c.Blackhole(a)
	case p < 86:
		if len(s.down) > 0 {
			return
		}
		kind = "stop"
		s.rc.StopNode(a)
		s.down[a] = s.step
	case p < 93:
		kind = "heal-link"
		c.Heal(a, b)
	default:
		kind = "heal-all"
		c.HealAll()
	}
	s.counts[kind]++
}

// healAll removes every fault and restarts every stopped node.
func (s *scheduler) healAll() {
	s.rc.Cluster().HealAll()
	for id := range s.down {
		s.rc.RestartNode(id)
		delete(s.down, id)
	}
}
