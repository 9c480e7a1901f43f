package rafthttptest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/types"
)

// proposeAll proposes "<prefix>-<i>" for i < n, through members in turn,
// and returns the data in proposal order.
func proposeAll(t *testing.T, rc *RaftCluster, prefix string, n int, via ...types.ID) []string {
	t.Helper()
	var want []string
	for i := range n {
		data := fmt.Sprintf("%s-%d", prefix, i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := rc.ProposeVia(ctx, via[i%len(via)], []byte(data))
		cancel()
		if err != nil {
			t.Fatalf("propose %q: %v", data, err)
		}
		want = append(want, data)
	}
	return want
}

func appliedStrings(rc *RaftCluster, id types.ID) []string {
	var out []string
	for _, d := range rc.Applied(id) {
		out = append(out, string(d))
	}
	return out
}

func checkApplied(t *testing.T, rc *RaftCluster, want []string, ids ...types.ID) {
	t.Helper()
	for _, id := range ids {
		if got := appliedStrings(rc, id); !slices.Equal(got, want) {
			t.Errorf("node %s applied %q, want %q", id, got, want)
		}
	}
}

func TestRaftClusterReplicatesThroughEveryMember(t *testing.T) {
	rc := NewRaftCluster(t, 3)
	lead := rc.WaitLeader(t, 10*time.Second)
	want := proposeAll(t, rc, "x", 9, 1, 2, 3)
	d := rc.WaitConverged(t, 10*time.Second)
	t.Logf("leader %s; converged %v after the last proposal", lead, d)
	checkApplied(t, rc, want, 1, 2, 3)
}

func TestRaftClusterRestartedNodeReplaysAndCatchesUp(t *testing.T) {
	rc := NewRaftCluster(t, 3)
	rc.WaitLeader(t, 10*time.Second)
	want := proposeAll(t, rc, "before", 3, 1, 2, 3)
	rc.WaitConverged(t, 10*time.Second)
	rc.StopNode(3)
	if rc.Running(3) {
		t.Fatal("node 3 still running after StopNode")
	}
	// Proposals forwarded to a stopped leader are lost, as in any raft
	// cluster; wait for a leader among the survivors first.
	rc.WaitLeader(t, 10*time.Second)
	want = append(want, proposeAll(t, rc, "while-down", 3, 1, 2)...)
	rc.RestartNode(3)
	want = append(want, proposeAll(t, rc, "after", 3, 3, 1, 2)...)
	rc.WaitConverged(t, 10*time.Second)
	checkApplied(t, rc, want, 1, 2, 3)
}

func TestRaftClusterNewLeaderAfterLeaderStops(t *testing.T) {
	rc := NewRaftCluster(t, 3)
	old := rc.WaitLeader(t, 10*time.Second)
	rc.StopNode(old)
	lead := rc.WaitLeader(t, 10*time.Second)
	if lead == old {
		t.Fatalf("stopped node %s still leads", old)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rc.Propose(ctx, []byte("after failover")); err != nil {
		t.Fatalf("propose after failover: %v", err)
	}
	rc.RestartNode(old)
	rc.WaitConverged(t, 10*time.Second)
	checkApplied(t, rc, []string{"after failover"}, 1, 2, 3)
}

func TestRaftClusterProposeErrors(t *testing.T) {
	rc := NewRaftCluster(t, 3)
	rc.WaitLeader(t, 10*time.Second)
	rc.StopNode(2)
	rc.StopNode(3)
	err := rc.ProposeVia(context.Background(), 2, []byte("x"))
	if !errors.Is(err, ErrNodeStopped) {
		t.Fatalf("propose through a stopped node: %v, want ErrNodeStopped", err)
	}
	// Without a quorum nothing commits: the proposal times out.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = rc.ProposeVia(ctx, 1, []byte("no quorum"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("propose without quorum: %v, want a deadline error", err)
	}
}

func TestRaftClusterPartitionedMinorityCatchesUp(t *testing.T) {
	rc := NewRaftCluster(t, 3, WithClusterOptions(WithTransport(fastTransport)))
	lead := rc.WaitLeader(t, 10*time.Second)
	var other types.ID = 1
	if lead == 1 {
		other = 2
	}
	rc.Cluster().Isolate(other)
	want := proposeAll(t, rc, "split", 5, lead)
	rc.Cluster().HealAll()
	d := rc.WaitConverged(t, 10*time.Second)
	t.Logf("isolated node %s caught up %v after heal", other, d)
	checkApplied(t, rc, want, 1, 2, 3)
}
