package stats

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestFollowerStatsSucc(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    LatencyStats
	}{
		{
			name:    "one sample",
			samples: []time.Duration{1500 * time.Microsecond},
			want:    LatencyStats{Current: 1.5, Average: 1.5, Minimum: 1.5, Maximum: 1.5},
		},
		{
			name:    "three samples",
			samples: []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 20 * time.Millisecond},
			want:    LatencyStats{Current: 20, Average: 20, StandardDeviation: math.Sqrt(200.0 / 3), Minimum: 10, Maximum: 30},
		},
		{
			name:    "identical samples have zero deviation",
			samples: []time.Duration{3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond},
			want:    LatencyStats{Current: 3, Average: 3, Minimum: 3, Maximum: 3},
		},
	}
	for _, tt := range tests {
		for _, viaLeader := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "/zero value", true: "/via leader"}[viaLeader], func(t *testing.T) {
				fs := &FollowerStats{}
				if viaLeader {
					fs = NewLeaderStats(nil, "1").Follower("f")
				}
				for _, d := range tt.samples {
					fs.Succ(d)
				}
				checkLatency(t, fs.Latency, tt.want)
				if fs.Counts.Success != uint64(len(tt.samples)) || fs.Counts.Fail != 0 {
					t.Errorf("counts = %+v", fs.Counts)
				}
			})
		}
	}
}

func TestFollowerStatsSuccN(t *testing.T) {
	// 10 ms alone, then 4 sends timed together at 40 ms: samples 10, 10, 10, 10, 10.
	var fs FollowerStats
	fs.Succ(10 * time.Millisecond)
	fs.SuccN(4, 40*time.Millisecond)
	checkLatency(t, fs.Latency, LatencyStats{Current: 10, Average: 10, Minimum: 10, Maximum: 10})

	// Then 2 sends in 60 ms: samples 10 ×5, 30 ×2; mean 110/7, E[x²] 2300/7.
	fs.SuccN(2, 60*time.Millisecond)
	mean := 110.0 / 7
	checkLatency(t, fs.Latency, LatencyStats{Current: 30, Average: mean,
		StandardDeviation: math.Sqrt(2300.0/7 - mean*mean), Minimum: 10, Maximum: 30})
	if fs.Counts.Success != 7 {
		t.Errorf("success = %d, want 7", fs.Counts.Success)
	}

	fs.SuccN(0, time.Second)
	if fs.Counts.Success != 7 || fs.Latency.Current != 30 {
		t.Errorf("SuccN(0) recorded something: %+v %+v", fs.Counts, fs.Latency)
	}

	// A batch as the first record sets the minimum and maximum.
	var first FollowerStats
	first.SuccN(3, 6*time.Millisecond)
	checkLatency(t, first.Latency, LatencyStats{Current: 2, Average: 2, Minimum: 2, Maximum: 2})
}

func checkLatency(t *testing.T, got, want LatencyStats) {
	t.Helper()
	pairs := []struct {
		name      string
		got, want float64
	}{
		{"current", got.Current, want.Current},
		{"average", got.Average, want.Average},
		{"standardDeviation", got.StandardDeviation, want.StandardDeviation},
		{"minimum", got.Minimum, want.Minimum},
		{"maximum", got.Maximum, want.Maximum},
	}
	for _, p := range pairs {
		if math.IsNaN(p.got) || math.Abs(p.got-p.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", p.name, p.got, p.want)
		}
	}
}

func TestFollowerStatsFail(t *testing.T) {
	var fs FollowerStats
	fs.Fail()
	fs.Fail()
	fs.Succ(time.Millisecond)
	if fs.Counts.Fail != 2 || fs.Counts.Success != 1 {
		t.Errorf("counts = %+v, want fail 2 success 1", fs.Counts)
	}
}

func TestFollowerStatsJSONRoundTrip(t *testing.T) {
	fs := &FollowerStats{}
	fs.Succ(4 * time.Millisecond)
	fs.Fail()
	b, err := json.Marshal(fs)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Latency LatencyStats `json:"latency"`
		Counts  CountsStats  `json:"counts"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Counts != fs.Counts || back.Latency.Maximum != 4 {
		t.Errorf("round trip %+v from %s", back, b)
	}
}
