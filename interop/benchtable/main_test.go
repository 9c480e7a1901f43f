package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sample is abridged `go test -bench -count 2` output of the suite.
const sample = `goos: linux
BenchmarkMsgApp/size=64B/perSend=64/impl=etcd-2         	  716316	      1000 ns/op	  64.00 MB/s	        18.00 allocs/msg	      2400 cpu-ns/msg	   1000000 msgs/s	      1000 recv-cpu-ns/msg	      1200 send-cpu-ns/msg	     820 B/op	      18 allocs/op
BenchmarkMsgApp/size=64B/perSend=64/impl=etcd-2         	  716316	      1000 ns/op	  64.00 MB/s	        18.00 allocs/msg	      2600 cpu-ns/msg	   1000000 msgs/s	      1000 recv-cpu-ns/msg	      1400 send-cpu-ns/msg	     820 B/op	      18 allocs/op
BenchmarkMsgApp/size=64B/perSend=64/impl=ours-2         	  913696	       250 ns/op	 256.00 MB/s	         0.06 allocs/msg	       600 cpu-ns/msg	   4000000 msgs/s	       300 recv-cpu-ns/msg	       200 send-cpu-ns/msg	     100 B/op	       0 allocs/op
BenchmarkMsgApp/size=64B/perSend=64/impl=ours-2         	  913696	       500 ns/op	 128.00 MB/s	         0.10 allocs/msg	       650 cpu-ns/msg	   2000000 msgs/s	       300 recv-cpu-ns/msg	       200 send-cpu-ns/msg	     100 B/op	       0 allocs/op
BenchmarkMsgApp/size=64B/perSend=1/impl=etcd-2          	  716316	      2000 ns/op	  32.00 MB/s	   500000 msgs/s
BenchmarkMsgApp/size=64B/perSend=1/impl=ours-2          	  716316	       800 ns/op	  80.00 MB/s	  1250000 msgs/s
BenchmarkRaftCluster/nodes=3/clients=64/size=64B/impl=etcd-2 	   40000	     25000 ns/op	   2.56 MB/s	     40000 commits/s	     50000 cpu-ns/op	   1500000 p50-ns	   4500000 p99-ns	     20000 raft-cpu-ns/op	     15000 transport-cpu-ns/op
BenchmarkRaftCluster/nodes=3/clients=64/size=64B/impl=ours-2 	   45000	     22000 ns/op	   2.89 MB/s	     45000 commits/s	     34000 cpu-ns/op	   1300000 p50-ns	   3000000 p99-ns	     15000 raft-cpu-ns/op	     10000 transport-cpu-ns/op
BenchmarkRawTCP/size=64B-2                   	11641574	        50 ns/op	1280.00 MB/s	  20000000 msgs/s	       0 B/op	       0 allocs/op
BenchmarkHeartbeatUnderLoad/impl=etcd-2      	    2668	    594071 ns/op	    311686 load-msgs/s	     38267 p50-ns	   8000000 p99-ns
BenchmarkHeartbeatUnderLoad/impl=ours-2      	    5241	    323881 ns/op	    329528 load-msgs/s	     49413 p50-ns	   2000000 p99-ns
BenchmarkSnapshot/size=1GiB/impl=etcd-2      	       1	3140782121 ns/op	 300.00 MB/s	         0.35 peak-heap-MiB
BenchmarkSnapshot/size=1GiB/impl=ours-2      	       1	1718664442 ns/op	 600.00 MB/s	         0.60 peak-heap-MiB
BenchmarkSnapshot/size=1GiB/impl=rawtcp-2    	       1	2119199485 ns/op	 500.00 MB/s	         0.02 peak-heap-MiB
BenchmarkSnapshotFlakyLink/size=256MiB/cuts=3/impl=etcd-2 	       1	10000000000 ns/op	  26.84 MB/s	         1.900 wire/DB	         4.000 attempts
BenchmarkSnapshotFlakyLink/size=256MiB/cuts=3/impl=ours-2 	       1	5000000000 ns/op	  53.69 MB/s	         1.010 wire/DB	         4.000 attempts
--- FAIL: BenchmarkSomething
PASS
`

func TestRender(t *testing.T) {
	set, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	render(&out, set)
	got := out.String()
	for _, want := range []string{
		"median of 1–2 runs",
		// ours: median of 4M and 2M msgs/s is 3M; etcd 1M in both runs, so
		// the per-run ratios are 4 and 2; raw 20M in one run only.
		"| MsgApp size=64B perSend=64 | 1.00M msgs/s (64 MB/s) | 3.00M msgs/s (192 MB/s) | 3.00x (2.00–4.00) | 15% |",
		"| MsgApp size=64B perSend=64 allocs/msg ↓ | 18 | 0.08 | 0.0044x (0.0033–0.0056) | – |",
		"| MsgApp size=64B perSend=64 CPU/msg ↓ | 2.5 µs (send 1.3 µs, recv 1.0 µs) | 625 ns (send 200 ns, recv 300 ns) | 0.25x | – |",
		// perSend=1 shares the raw baseline of its message shape.
		"| MsgApp size=64B perSend=1 | 500.0K msgs/s (32 MB/s) | 1.25M msgs/s (80 MB/s) | 2.50x | 6% |",
		"| RaftCluster nodes=3 clients=64 size=64B | 40.0K commits/s | 45.0K commits/s | 1.12x | – |",
		"| RaftCluster nodes=3 clients=64 size=64B p99 Propose→apply ↓ | 4.50 ms | 3.00 ms | 0.67x | – |",
		"| RaftCluster nodes=3 clients=64 size=64B CPU/commit ↓ | 50.0 µs (raft 20.0 µs, transports 15.0 µs) | 34.0 µs (raft 15.0 µs, transports 10.0 µs) | 0.68x | – |",
		"| HeartbeatUnderLoad p99 RTT ↓ | 8.00 ms | 2.00 ms | 0.25x | – |",
		"| Snapshot size=1GiB | 300 MB/s | 600 MB/s | 2.00x | 120% |",
		"| SnapshotFlakyLink size=256MiB cuts=3 time to complete ↓ | 10.00 s | 5.00 s | 0.50x | – |",
		"| SnapshotFlakyLink size=256MiB cuts=3 on the wire ↓ | 1.90 wire/DB | 1.01 wire/DB | 0.53x | – |",
		"| SnapshotFlakyLink size=256MiB cuts=3 attempts ↓ | 4 attempts | 4 attempts | 1.00x | – |",
		"| RawTCP size=64B | 20.00M msgs/s (1280 MB/s) |",
		"| Snapshot size=1GiB (rawtcp) | 500 MB/s |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q; got:\n%s", want, got)
		}
	}
}

func TestParseDerivesMsgsPerSecond(t *testing.T) {
	set, err := parse(strings.NewReader("BenchmarkX/impl=ours-8 \t 10 \t 250 ns/op\n"))
	if err != nil {
		t.Fatal(err)
	}
	rs := set.cases[caseKey{family: "X"}]["ours"]
	if got := rs["msgs/s"]; len(got) != 1 || got[0] != 4e6 {
		t.Errorf("msgs/s = %v, want [4e6]", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vals   []float64
		want   float64
		wantOK bool
	}{
		{"empty", nil, 0, false},
		{"odd", []float64{3, 1, 2}, 2, true},
		{"even", []float64{4, 1, 3, 2}, 2.5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := median(tc.vals)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("median(%v) = %v, %v; want %v, %v", tc.vals, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestTrimProcs(t *testing.T) {
	for in, want := range map[string]string{
		"BenchmarkRawTCP/size=64B-2":        "BenchmarkRawTCP/size=64B",
		"BenchmarkRawTCP/size=64B-16":       "BenchmarkRawTCP/size=64B",
		"BenchmarkIdlePeers/peers=100":      "BenchmarkIdlePeers/peers=100",
		"BenchmarkX/name=a-b":               "BenchmarkX/name=a-b",
		"BenchmarkX/trailing-":              "BenchmarkX/trailing-",
		"BenchmarkX/impl=etcd-2 (renamed)-": "BenchmarkX/impl=etcd-2 (renamed)-",
	} {
		if got := trimProcs(in); got != want {
			t.Errorf("trimProcs(%q) = %q, want %q", in, got, want)
		}
	}
}
