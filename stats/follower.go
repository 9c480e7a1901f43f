package stats

import (
	"encoding/json"
	"math"
	"sync"
	"time"
)

// FollowerStats holds a leader's view of one follower: how long successful
// sends took and how many sends succeeded or failed. The zero value is
// ready to use. Hold the embedded Mutex when reading fields directly; Succ,
// Fail and JSON marshalling lock it themselves.
type FollowerStats struct {
	Latency LatencyStats `json:"latency"`
	Counts  CountsStats  `json:"counts"`

	sync.Mutex
}

// LatencyStats summarises successful send latencies in milliseconds.
// Before the first sample, a follower created by LeaderStats.Follower
// reports Minimum as 1<<63 and everything else as zero.
type LatencyStats struct {
	Current           float64 `json:"current"`
	Average           float64 `json:"average"`
	averageSquare     float64 // mean of the squared samples
	StandardDeviation float64 `json:"standardDeviation"`
	Minimum           float64 `json:"minimum"`
	Maximum           float64 `json:"maximum"`
}

// CountsStats counts send outcomes.
type CountsStats struct {
	Fail    uint64 `json:"fail"`
	Success uint64 `json:"success"`
}

// Succ records a successful send that took d.
func (fs *FollowerStats) Succ(d time.Duration) {
	fs.SuccN(1, d)
}

// SuccN records n successful sends that took d together, as n samples of
// d/n each: a sender that writes messages in batches times the batch, not
// every message. n below one records nothing.
func (fs *FollowerStats) SuccN(n int, d time.Duration) {
	if n < 1 {
		return
	}
	fs.Lock()
	defer fs.Unlock()
	ms := float64(d) / float64(time.Millisecond) / float64(n)
	fs.Counts.Success += uint64(n)
	fs.Latency.record(ms, uint64(n), fs.Counts.Success)
}

// Fail records a failed send.
func (fs *FollowerStats) Fail() {
	fs.Lock()
	defer fs.Unlock()
	fs.Counts.Fail++
}

// MarshalJSON renders the latency and counts, read under the lock.
func (fs *FollowerStats) MarshalJSON() ([]byte, error) {
	fs.Lock()
	view := struct {
		Latency LatencyStats `json:"latency"`
		Counts  CountsStats  `json:"counts"`
	}{fs.Latency, fs.Counts}
	fs.Unlock()
	return json.Marshal(view)
}

// record folds count samples of value ms into the running statistics,
// which then hold total samples.
func (l *LatencyStats) record(ms float64, count, total uint64) {
	l.Current = ms
	if total == count {
		l.Minimum, l.Maximum = ms, ms
	} else {
		l.Minimum = min(l.Minimum, ms)
		l.Maximum = max(l.Maximum, ms)
	}
	w := float64(count) / float64(total)
	l.Average += (ms - l.Average) * w
	l.averageSquare += (ms*ms - l.averageSquare) * w
	// Var = E[x²] - E[x]²; rounding can push it slightly below zero.
	l.StandardDeviation = math.Sqrt(max(0, l.averageSquare-l.Average*l.Average))
}
