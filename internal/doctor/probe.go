package doctor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/probing"
)

// sample is one probing round trip.
type sample struct {
	rtt   time.Duration
	drift time.Duration // local clock - peer clock - rtt/2
}

// probeOnce sends one GET /raft/probing, as an etcd member's prober does,
// and times it.
func probeOnce(ctx context.Context, pc *peerClient, now func() time.Time) (sample, error) {
	start := time.Now()
	r, err := pc.do(ctx, http.MethodGet, rafthttp.ProbingPrefix, nil)
	if err != nil {
		return sample{}, err
	}
	rtt := time.Since(start)
	recv := now()
	if r.status != http.StatusOK {
		return sample{}, fmt.Errorf("%s answered %d", rafthttp.ProbingPrefix, r.status)
	}
	var h probing.Health
	if err := json.Unmarshal(r.body, &h); err != nil || !h.OK {
		return sample{}, fmt.Errorf("%s answered %q, not a probing reply", rafthttp.ProbingPrefix, truncate(r.body))
	}
	return sample{rtt: rtt, drift: recv.Sub(h.Now) - rtt/2}, nil
}

// probe sends n probes after one warm-up probe (which pays for the
// connection, as an etcd prober's first probe does) and summarises them.
// If the warm-up fails it is the only probe counted.
func probe(ctx context.Context, pc *peerClient, n int, now func() time.Time) *ProbeResult {
	res := &ProbeResult{}
	if _, err := probeOnce(ctx, pc, now); err != nil {
		res.Count, res.Failed, res.Error = 1, 1, err.Error()
		return res
	}
	var samples []sample
	for range n {
		s, err := probeOnce(ctx, pc, now)
		res.Count++
		if err != nil {
			res.Failed++
			res.Error = err.Error()
			continue
		}
		samples = append(samples, s)
	}
	summarise(res, samples)
	return res
}

// summarise fills the RTT percentiles (nearest rank) and takes the drift
// from the fastest round trip, whose midpoint is the least uncertain.
func summarise(res *ProbeResult, samples []sample) {
	if len(samples) == 0 {
		return
	}
	slices.SortFunc(samples, func(a, b sample) int { return cmp.Compare(a.rtt, b.rtt) })
	res.MinMS = ms(samples[0].rtt)
	res.P50MS = ms(samples[rank(len(samples), 50)].rtt)
	res.P99MS = ms(samples[rank(len(samples), 99)].rtt)
	res.MaxMS = ms(samples[len(samples)-1].rtt)
	res.DriftMS = ms(samples[0].drift)
}

// rank is the 0-based nearest-rank index of percentile p among n values.
func rank(n, p int) int {
	i := (p*n + 99) / 100
	return max(i-1, 0)
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
