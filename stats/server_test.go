package stats

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
)

// decode unmarshals b into a generic map, failing the test on error.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return m
}

func TestNewServerStats(t *testing.T) {
	clk := newFakeClock()
	ss := newServerStatsWithClock("node1", "8e9e05c52164694d", clk.now)
	if ss.Name != "node1" || ss.ID != "8e9e05c52164694d" {
		t.Errorf("name/id = %q/%q", ss.Name, ss.ID)
	}
	if !ss.StartTime.Equal(clk.t) || !ss.LeaderInfo.StartTime.Equal(clk.t) {
		t.Errorf("start times %v / %v, want %v", ss.StartTime, ss.LeaderInfo.StartTime, clk.t)
	}
	if ss.State != raft.StateFollower {
		t.Errorf("initial state %v, want follower", ss.State)
	}
	if real := NewServerStats("", ""); real.StartTime.IsZero() {
		t.Errorf("NewServerStats left StartTime zero")
	}
}

func TestServerStatsJSONFields(t *testing.T) {
	clk := newFakeClock()
	ss := newServerStatsWithClock("n", "1", clk.now)
	clk.advance(90 * time.Second)
	got := decode(t, ss.JSON())
	for _, key := range []string{"name", "id", "state", "startTime", "leaderInfo", "recvAppendRequestCnt", "sendAppendRequestCnt"} {
		if _, ok := got[key]; !ok {
			t.Errorf("JSON lacks %q: %v", key, got)
		}
	}
	for _, key := range []string{"recvPkgRate", "recvBandwidthRate", "sendPkgRate", "sendBandwidthRate"} {
		if _, ok := got[key]; ok {
			t.Errorf("JSON has zero rate %q, want it omitted", key)
		}
	}
	if got["state"] != "StateFollower" {
		t.Errorf("state = %v, want StateFollower", got["state"])
	}
	info := got["leaderInfo"].(map[string]any)
	if info["uptime"] != "1m30s" {
		t.Errorf("uptime = %v, want 1m30s", info["uptime"])
	}
	for _, key := range []string{"leader", "startTime"} {
		if _, ok := info[key]; !ok {
			t.Errorf("leaderInfo lacks %q", key)
		}
	}
}

func TestServerStatsRecvAppendReq(t *testing.T) {
	clk := newFakeClock()
	ss := newServerStatsWithClock("n", "1", clk.now)
	steps := []struct {
		name      string
		leader    string
		wantStart time.Time
	}{
		{name: "first leader", leader: "a", wantStart: clk.t.Add(time.Second)},
		{name: "same leader keeps start", leader: "a", wantStart: clk.t.Add(time.Second)},
		{name: "new leader resets start", leader: "b", wantStart: clk.t.Add(3 * time.Second)},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clk.advance(time.Second)
			ss.RecvAppendReq(st.leader, 10)
			if ss.LeaderInfo.Name != st.leader || !ss.LeaderInfo.StartTime.Equal(st.wantStart) {
				t.Errorf("leader %q since %v, want %q since %v", ss.LeaderInfo.Name, ss.LeaderInfo.StartTime, st.leader, st.wantStart)
			}
			if ss.RecvAppendRequestCnt != uint64(i+1) || ss.State != raft.StateFollower {
				t.Errorf("count %d state %v", ss.RecvAppendRequestCnt, ss.State)
			}
		})
	}
}

func TestServerStatsLeadership(t *testing.T) {
	tests := []struct {
		name string
		act  func(ss *ServerStats)
		sent uint64
	}{
		{name: "BecomeLeader", act: func(ss *ServerStats) { ss.BecomeLeader() }},
		{name: "SendAppendReq", act: func(ss *ServerStats) { ss.SendAppendReq(5) }, sent: 1},
		{name: "SendAppendReqs", act: func(ss *ServerStats) { ss.SendAppendReqs(3, 15) }, sent: 3},
		{name: "SendAppendReqsAt", act: func(ss *ServerStats) { ss.SendAppendReqsAt(ss.clock(), 2, 15) }, sent: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			ss := newServerStatsWithClock("n", "abc", clk.now)
			ss.RecvAppendReq("other", 1)
			clk.advance(time.Minute)
			tt.act(ss)
			became := clk.t
			clk.advance(time.Minute)
			tt.act(ss) // already leader: start time unchanged
			if ss.State != raft.StateLeader || ss.LeaderInfo.Name != "abc" {
				t.Errorf("state %v leader %q, want leader abc", ss.State, ss.LeaderInfo.Name)
			}
			if !ss.LeaderInfo.StartTime.Equal(became) {
				t.Errorf("leader start %v, want %v", ss.LeaderInfo.StartTime, became)
			}
			if ss.SendAppendRequestCnt != 2*tt.sent {
				t.Errorf("sent count %d, want %d", ss.SendAppendRequestCnt, 2*tt.sent)
			}
		})
	}
}

func TestServerStatsRates(t *testing.T) {
	tests := []struct {
		name      string
		samples   int
		gap       time.Duration
		size      int
		idle      time.Duration
		wantPkg   float64
		wantBytes float64
	}{
		{name: "steady", samples: 11, gap: 100 * time.Millisecond, size: 10, wantPkg: 11, wantBytes: 110},
		{name: "single sample", samples: 1, size: 10},
		{name: "same instant", samples: 5, size: 10},
		{name: "stale", samples: 11, gap: 100 * time.Millisecond, size: 10, idle: 2 * time.Second},
		{name: "window keeps last 200", samples: 250, gap: 10 * time.Millisecond, size: 4, wantPkg: 200 / 1.99, wantBytes: 800 / 1.99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			ss := newServerStatsWithClock("n", "1", clk.now)
			for i := range tt.samples {
				if i > 0 {
					clk.advance(tt.gap)
				}
				ss.SendAppendReq(tt.size)
				ss.RecvAppendReq("l", tt.size)
			}
			clk.advance(tt.idle)
			var got struct {
				SendPkg   float64 `json:"sendPkgRate"`
				SendBytes float64 `json:"sendBandwidthRate"`
				RecvPkg   float64 `json:"recvPkgRate"`
				RecvBytes float64 `json:"recvBandwidthRate"`
			}
			if err := json.Unmarshal(ss.JSON(), &got); err != nil {
				t.Fatal(err)
			}
			for _, v := range []struct {
				what      string
				got, want float64
			}{
				{"sendPkgRate", got.SendPkg, tt.wantPkg}, {"sendBandwidthRate", got.SendBytes, tt.wantBytes},
				{"recvPkgRate", got.RecvPkg, tt.wantPkg}, {"recvBandwidthRate", got.RecvBytes, tt.wantBytes},
			} {
				if math.Abs(v.got-v.want) > 1e-6 {
					t.Errorf("%s = %v, want %v", v.what, v.got, v.want)
				}
			}
		})
	}
}

func TestServerStatsSendAppendReqsMatchesOneByOne(t *testing.T) {
	// Batches 100 ms apart: rates must equal those of the same requests
	// recorded one at a time, including when the window evicts only part of
	// an old batch (whose requests differ in size by a byte) and when one
	// batch is larger than the window.
	batched, single := newFakeClock(), newFakeClock()
	a := newServerStatsWithClock("n", "1", batched.now)
	b := newServerStatsWithClock("n", "1", single.now)
	record := func(count, bytes int) {
		a.SendAppendReqs(count, bytes)
		for i := range count {
			size := bytes / count
			if i < bytes%count {
				size++
			}
			b.SendAppendReq(size)
		}
		batched.advance(100 * time.Millisecond)
		single.advance(100 * time.Millisecond)
	}
	batches := [][2]int{{5, 0}, {7, 3}, {1, 4}, {199, 1000}, {2, 9}, {3, 3}, {250, 1001}, {64, 6400}, {130, 7}}
	for range 70 {
		batches = append(batches, [2]int{3, 7})
	}
	batches = append(batches, [2]int{5, 11}, [2]int{200, 1}, [2]int{1, 0})
	sent := 0
	for i, batch := range batches {
		record(batch[0], batch[1])
		sent += batch[0]
		if a.JSON() == nil || string(a.JSON()) != string(b.JSON()) {
			t.Fatalf("after batch %d %v: batched %s\nsingle  %s", i, batch, a.JSON(), b.JSON())
		}
	}
	a.SendAppendReqs(0, 10)
	if a.SendAppendRequestCnt != uint64(sent) {
		t.Errorf("sent count %d, want %d", a.SendAppendRequestCnt, sent)
	}
}

// TestServerStatsSendAppendReqsAtOutOfOrder records batches whose times
// arrive out of order, as writers on several goroutines may: a late one
// counts at the newest time, so the rates equal those of the same batches
// recorded in order at the later time.
func TestServerStatsSendAppendReqsAtOutOfOrder(t *testing.T) {
	clk := newFakeClock()
	start := clk.t
	a := newServerStatsWithClock("n", "1", clk.now)
	b := newServerStatsWithClock("n", "1", clk.now)
	t1, t2 := start.Add(100*time.Millisecond), start.Add(300*time.Millisecond)
	a.SendAppendReqsAt(t1, 4, 40)
	a.SendAppendReqsAt(t2, 2, 30)
	a.SendAppendReqsAt(t1.Add(time.Millisecond), 3, 30) // read before t2, recorded after
	b.SendAppendReqsAt(t1, 4, 40)
	b.SendAppendReqsAt(t2, 2, 30)
	b.SendAppendReqsAt(t2, 3, 30)
	clk.advance(400 * time.Millisecond)
	if a.SendAppendRequestCnt != 9 {
		t.Errorf("sent count %d, want 9", a.SendAppendRequestCnt)
	}
	got, want := decode(t, a.JSON()), decode(t, b.JSON())
	for _, k := range []string{"sendPkgRate", "sendBandwidthRate"} {
		if got[k] != want[k] || got[k] == nil {
			t.Errorf("%s = %v, want %v", k, got[k], want[k])
		}
	}
}

func TestServerStatsZeroValue(t *testing.T) {
	var ss ServerStats
	ss.SendAppendReq(1)
	if decode(t, ss.JSON())["sendAppendRequestCnt"] != 1.0 {
		t.Errorf("zero ServerStats did not count")
	}
}

func TestServerStatsConcurrent(t *testing.T) {
	ss := NewServerStats("n", "1")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				switch i % 4 {
				case 0:
					ss.SendAppendReq(10)
				case 1:
					ss.RecvAppendReq("l", 10)
				case 2:
					ss.BecomeLeader()
				default:
					decode(t, ss.JSON())
				}
			}
		})
	}
	wg.Wait()
	if ss.SendAppendRequestCnt != 400 || ss.RecvAppendRequestCnt != 400 {
		t.Errorf("counts %d/%d, want 400/400", ss.SendAppendRequestCnt, ss.RecvAppendRequestCnt)
	}
}
