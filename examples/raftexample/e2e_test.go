package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rafthttp/rafthttp/examples/raftexample/cluster"
	"github.com/rafthttp/rafthttp/examples/raftexample/kv"
)

// binary is the raftexample executable built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "raftexample-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if binary, err = cluster.Build(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// startCluster starts size members and stops them when the test ends,
// showing their logs if it failed.
func startCluster(t *testing.T, size int, snapshotCount uint64) *cluster.Cluster {
	t.Helper()
	return startClusterWith(t, cluster.Options{Size: size, SnapshotCount: snapshotCount})
}

// startClusterWith starts the members of a cluster made with opts (its
// Binary and Dir filled in) and stops them when the test ends, showing
// their logs if it failed: the log of one member more than opts.Size, in
// case a test added one.
func startClusterWith(t *testing.T, opts cluster.Options) *cluster.Cluster {
	t.Helper()
	opts.Binary, opts.Dir = binary, t.TempDir()
	c, err := cluster.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for id := uint64(1); id <= uint64(opts.Size)+1; id++ {
				t.Logf("member %d log:\n%s", id, c.LogTail(id, 15))
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("closing cluster: %v", err)
		}
	})
	for id := uint64(1); id <= uint64(opts.Size); id++ {
		if err := c.Start(id); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func value(k string) []byte { return []byte("value-of-" + k) }

func keyRange(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%05d", prefix, i))
	}
	return out
}

// checkKeys fails unless every member in ids returns value(k) for every k.
func checkKeys(ctx context.Context, t *testing.T, c *cluster.Cluster, keys []string, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		cl := c.Client(id)
		for _, k := range keys {
			v, found, err := cl.Get(ctx, k)
			if err != nil || !found || !bytes.Equal(v, value(k)) {
				t.Fatalf("member %d: GET %s = %q, found %v, err %v; want %q", id, k, v, found, err, value(k))
			}
		}
	}
}

// converge waits until the members have applied everything the leader
// had applied when it was asked.
func converge(ctx context.Context, t *testing.T, c *cluster.Cluster, ids ...uint64) []kv.Status {
	t.Helper()
	leader, err := c.WaitLeader(ctx, ids...)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := c.Statuses(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := c.WaitConverged(ctx, ls[0].AppliedIndex, ids...)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// TestE2ESnapshotCatchUp is the demo's scenario: a member killed with
// SIGKILL misses enough writes to need a snapshot when it returns.
func TestE2ESnapshotCatchUp(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	c := startCluster(t, 3, 500)
	if _, err := c.WaitLeader(ctx, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	first := keyRange("a", 0, 1000)
	if err := cluster.PutAll(ctx, c.Client(1), first, value, 16); err != nil {
		t.Fatal(err)
	}
	converge(ctx, t, c, 1, 2, 3)
	checkKeys(ctx, t, c, first, 2, 3)

	killedAt := converge(ctx, t, c, 3)[0].AppliedIndex
	if err := c.Kill(3); err != nil {
		t.Fatal(err)
	}
	more := keyRange("b", 0, 3000)
	if err := cluster.PutAll(ctx, c.Client(1), more, value, 16); err != nil {
		t.Fatal(err)
	}
	ls := converge(ctx, t, c, 1, 2)
	if ls[0].FirstIndex <= killedAt+1 {
		t.Fatalf("log not compacted past member 3 (first index %d, member 3 at %d)", ls[0].FirstIndex, killedAt)
	}
	if err := c.Start(3); err != nil {
		t.Fatal(err)
	}
	ss := converge(ctx, t, c, 1, 2, 3)
	if ss[2].Snapshots.Received == 0 || ss[2].Snapshots.LastReceivedBytes == 0 {
		t.Fatalf("member 3 caught up without a snapshot: %+v", ss[2].Snapshots)
	}
	checkKeys(ctx, t, c, slices.Concat(first[:50], more[len(more)-50:]), 1, 2, 3)
	checkKeys(ctx, t, c, more, 3)
}

// load writes unique keys round-robin through some members and records
// every write that was acknowledged with a 2xx. Failed writes (a member
// down, no leader) are simply not acknowledged.
type load struct {
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu    sync.Mutex
	acked []string
}

// startLoad starts writers that run until halt; the test's cleanup halts
// them too.
func startLoad(ctx context.Context, t *testing.T, c *cluster.Cluster, ids []uint64, writers int) *load {
	l := &load{stop: make(chan struct{})}
	var seq atomic.Int64
	for w := range writers {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%06d", w, seq.Add(1))
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := c.Client(ids[i%len(ids)]).Put(pctx, k, value(k))
				cancel()
				if err == nil {
					l.add(k)
				} else {
					time.Sleep(5 * time.Millisecond) // a member is down: don't spin
				}
			}
		})
	}
	t.Cleanup(l.halt)
	return l
}

// halt stops the writers and waits for them.
func (l *load) halt() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *load) add(k string) {
	l.mu.Lock()
	l.acked = append(l.acked, k)
	l.mu.Unlock()
}

// all returns the acknowledged keys so far.
func (l *load) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...)
}

// waitAcked waits until at least n more writes were acknowledged.
func waitAcked(ctx context.Context, t *testing.T, a *load, n int) {
	t.Helper()
	target := len(a.all()) + n
	for len(a.all()) < target {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d/%d writes acknowledged: %v", len(a.all()), target, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestE2EKillDuringWrites kills the leader, then every member at once,
// with SIGKILL while writes stream in, and checks that every acknowledged
// write is readable on every member afterwards.
func TestE2EKillDuringWrites(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	c := startCluster(t, 3, 300)
	leader, err := c.WaitLeader(ctx, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	ids := []uint64{1, 2, 3}
	a := startLoad(ctx, t, c, ids, 8)
	waitAcked(ctx, t, a, 300)
	if err := c.Kill(leader); err != nil {
		t.Fatal(err)
	}
	waitAcked(ctx, t, a, 300) // the other two elect a leader and go on
	if err := c.Start(leader); err != nil {
		t.Fatal(err)
	}
	waitAcked(ctx, t, a, 300)
	for _, id := range ids { // a power cut: everyone at once
		if err := c.Kill(id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if err := c.Start(id); err != nil {
			t.Fatal(err)
		}
	}
	waitAcked(ctx, t, a, 300)
	a.halt()

	converge(ctx, t, c, ids...)
	keys := a.all()
	t.Logf("%d writes acknowledged; checking each on all 3 members", len(keys))
	checkKeys(ctx, t, c, keys, ids...)
}

// TestE2EAddRemoveMember adds a fourth member with POST /4 and removes it
// with DELETE /4 while writes continue.
func TestE2EAddRemoveMember(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	c := startCluster(t, 3, 300)
	if _, err := c.WaitLeader(ctx, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	a := startLoad(ctx, t, c, []uint64{1, 2, 3}, 4)
	waitAcked(ctx, t, a, 500)

	id, err := c.Reserve()
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Retry(ctx, func(ctx context.Context) error {
		return c.Client(2).AddMember(ctx, id, c.PeerURL(id))
	}); err != nil {
		t.Fatalf("POST /%d: %v", id, err)
	}
	if err := c.Start(id); err != nil {
		t.Fatal(err)
	}
	waitAcked(ctx, t, a, 200)
	ss := converge(ctx, t, c, 1, 2, 3, id)
	if len(ss[0].Peers) != 4 {
		t.Fatalf("member 1 lists %d members, want 4", len(ss[0].Peers))
	}
	checkKeys(ctx, t, c, a.all()[:100], id)

	if err := cluster.Retry(ctx, func(ctx context.Context) error { return c.Client(1).RemoveMember(ctx, id) }); err != nil {
		t.Fatalf("DELETE /%d: %v", id, err)
	}
	if err := c.Wait(ctx, id); err != nil {
		t.Fatalf("removed member did not exit: %v", err)
	}
	waitAcked(ctx, t, a, 200)
	a.halt()

	ss = converge(ctx, t, c, 1, 2, 3)
	for _, s := range ss {
		if len(s.Peers) != 3 {
			t.Errorf("member %d lists %d members after removal, want 3", s.ID, len(s.Peers))
		}
	}
	checkKeys(ctx, t, c, a.all(), 1, 2, 3)
}
