package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/examples/raftexample/cluster"
	"github.com/rafthttp/rafthttp/examples/raftexample/kv"
)

// writeTimeout bounds one write, retries on 503 included. A write sent
// just as the cut isolates the leader waits for a new one (an election,
// about 1-2 s) and may first time out on the old one (5 s).
const writeTimeout = 15 * time.Second

// startNetnsCluster starts size members, member i in namespace i of h,
// and stops them when the test ends (before h is removed), showing their
// logs if it failed.
func startNetnsCluster(t *testing.T, h *netHub, size int) *cluster.Cluster {
	t.Helper()
	return startClusterWith(t, cluster.Options{Size: size, Host: h.host, CommandPrefix: h.exec})
}

// TestNetnsLinkCut runs three members in three network namespaces joined
// by a bridge, cuts member 3's link while writes go on through members 1
// and 2, restores it, and checks that member 3 catches up and serves
// writes again.
func TestNetnsLinkCut(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	h := newNetHub(t, 3)
	c := startNetnsCluster(t, h, 3)
	start := time.Now()
	leader, err := c.WaitLeader(ctx, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("members on %s.1-3 in namespaces %s..%s; leader %d after %v",
		h.subnet, h.ns(1), h.ns(3), leader, time.Since(start).Round(time.Millisecond))
	before := keyRange("before", 0, 200)
	if err := cluster.PutAll(ctx, c.Client(1), before, value, 8); err != nil {
		t.Fatal(err)
	}
	converge(ctx, t, c, 1, 2, 3)

	during := cutAndWrite(ctx, t, h, c)

	restored := time.Now()
	if err := h.restore(3); err != nil {
		t.Fatal(err)
	}
	waitKey(ctx, t, c.Client(3), during[len(during)-1])
	t.Logf("member 3 read the last key written during the cut %v after the link came back",
		time.Since(restored).Round(time.Millisecond))

	after := keyRange("after", 0, 100)
	start = time.Now()
	if err := cluster.PutAll(ctx, c.Client(3), after, value, 8); err != nil {
		t.Fatalf("writing through member 3 after the cut: %v", err)
	}
	t.Logf("wrote %d keys through member 3 in %v", len(after), time.Since(start).Round(time.Millisecond))
	converge(ctx, t, c, 1, 2, 3)
	checkKeys(ctx, t, c, sample(before, during, after), 1, 2, 3)
}

// cutAndWrite cuts member 3's link, writes 300 keys through members 1 and
// 2 while measuring how long members 1 and 2 take to agree on a leader
// among them and to see member 3 gone, and returns the keys. Member 3's link is still down when it returns.
func cutAndWrite(ctx context.Context, t *testing.T, h *netHub, c *cluster.Cluster) []string {
	t.Helper()
	leader := converge(ctx, t, c, 1, 2, 3)[0].Leader
	cut := time.Now()
	if err := h.cut(3); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var elected, detected time.Duration
	var detectErr error
	wg.Go(func() {
		if _, detectErr = c.WaitFor(ctx, []uint64{1, 2}, leaderOtherThan(3)); detectErr != nil {
			return
		}
		elected = time.Since(cut)
		_, detectErr = c.WaitFor(ctx, []uint64{1, 2}, inactive(3))
		detected = time.Since(cut)
	})
	keys := keyRange("during", 0, 300)
	lat, err := timedPuts(ctx, c, keys, []uint64{1, 2}, 8)
	written := time.Since(cut)
	wg.Wait()
	if err != nil {
		t.Fatalf("writing while member 3 is cut off: %v", err)
	}
	if detectErr != nil {
		t.Fatalf("members 1 and 2 never saw member 3 go: %v", detectErr)
	}
	t.Logf("cut member 3 (leader was %d): members 1 and 2 agreed on a leader among them after %v, saw member 3 inactive after %v",
		leader, elected.Round(time.Millisecond), detected.Round(time.Millisecond))
	t.Logf("%d writes through members 1 and 2 during the cut took %v; latency p50 %v, p99 %v, max %v",
		len(keys), written.Round(time.Millisecond), percentile(lat, 0.5), percentile(lat, 0.99), percentile(lat, 1))
	return keys
}

// leaderOtherThan accepts statuses that agree on a leader other than id.
func leaderOtherThan(id uint64) func([]kv.Status) bool {
	return func(ss []kv.Status) bool {
		for _, s := range ss {
			if s.Leader == 0 || s.Leader == id || s.Leader != ss[0].Leader {
				return false
			}
		}
		return true
	}
}

// inactive accepts statuses that all show member id inactive.
func inactive(id uint64) func([]kv.Status) bool {
	return func(ss []kv.Status) bool {
		for _, s := range ss {
			for _, p := range s.Peers {
				if p.ID == id && p.Active {
					return false
				}
			}
		}
		return true
	}
}

// timedPuts writes keys round-robin through the members in ids with the
// given number of writers, each write retried on 503 for up to
// writeTimeout, and returns every write's latency.
func timedPuts(ctx context.Context, c *cluster.Cluster, keys []string, ids []uint64, writers int) ([]time.Duration, error) {
	lat := make([]time.Duration, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < len(keys); i += writers {
				cl := c.Client(ids[i%len(ids)])
				wctx, cancel := context.WithTimeout(ctx, writeTimeout)
				start := time.Now()
				err := cluster.Retry(wctx, func(ctx context.Context) error { return cl.Put(ctx, keys[i], value(keys[i])) })
				lat[i] = time.Since(start)
				cancel()
				if err != nil {
					errs[i] = fmt.Errorf("PUT %s via member %d after %v: %w", keys[i], ids[i%len(ids)], lat[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return lat, err
		}
	}
	return lat, nil
}

// waitKey polls cl until it returns value(key).
func waitKey(ctx context.Context, t *testing.T, cl *cluster.Client, key string) {
	t.Helper()
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		v, found, err := cl.Get(rctx, key)
		cancel()
		if err == nil && found && string(v) == string(value(key)) {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("GET %s via %s: not there before the deadline (last error: %v)", key, cl.URL(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// percentile returns the q-quantile of ds (q = 1 is the maximum).
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))].Round(time.Millisecond)
}

// sample returns every 10th key of each group and each group's last key.
func sample(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		for i := 0; i < len(g); i += 10 {
			out = append(out, g[i])
		}
		out = append(out, g[len(g)-1])
	}
	return out
}
