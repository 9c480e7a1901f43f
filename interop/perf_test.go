package interop

// The performance suite: the same workloads on etcd's Transport and ours
// in one `go test -bench` process, each implementation talking to itself
// (leader 1 → follower 2 over httptest). `make bench` runs it and
// ./benchtable turns the output into the table in docs/performance.md.
//
// Names pair up by case: BenchmarkMsgApp/size=64B/impl=etcd and
// .../impl=ours are one row; BenchmarkRawTCP/size=64B is that row's
// ceiling. The impl level is innermost so both sides of a row run close
// together in time on a noisy machine.

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Shape of BenchmarkMsgAppBatch: 64 entries of 128 bytes per MsgApp.
const (
	batchEntries   = 64
	batchEntrySize = 128
)

// msgShape is the MsgApps of one case: entries entries of size bytes,
// handed to the Transport perSend at a time. Its name (the message's
// shape, without perSend) is the case's in every benchmark that has it,
// which is how benchtable pairs a case with its raw TCP baseline.
type msgShape struct {
	name          string
	entries, size int
	// perSend is how many MsgApps go into one Send call: sendBatch, as a
	// busy leader's Ready carries several for one follower, or 1, as a
	// leader that hands each follower one MsgApp per Ready.
	perSend int
}

func singleEntry(size int) msgShape {
	return msgShape{name: "size=" + sizeName(size), entries: 1, size: size, perSend: sendBatch}
}

// withPerSend returns s with n messages per Send call.
func (s msgShape) withPerSend(n int) msgShape {
	s.perSend = n
	return s
}

// perSendName is the sub-benchmark level that names how many messages
// each Send call carries.
func (s msgShape) perSendName() string { return fmt.Sprintf("perSend=%d", s.perSend) }

// perSendCounts are the Send patterns of the MsgApp cases, one message
// per call first.
func perSendCounts() []int { return []int{1, sendBatch} }

// payload is the entry bytes of one message.
func (s msgShape) payload() int { return s.entries * s.size }

// msgAppShapes are BenchmarkMsgApp's cases: one entry of 64 B, 1 KiB and
// 64 KiB.
func msgAppShapes() []msgShape {
	return []msgShape{singleEntry(64), singleEntry(1 << 10), singleEntry(64 << 10)}
}

// batchShape is BenchmarkMsgAppBatch's case.
func batchShape() msgShape {
	return msgShape{
		name:    fmt.Sprintf("entries=%dx%s", batchEntries, sizeName(batchEntrySize)),
		entries: batchEntries, size: batchEntrySize, perSend: sendBatch,
	}
}

// allShapes are every MsgApp case of the suite.
func allShapes() []msgShape { return append(msgAppShapes(), batchShape()) }

// startBenchPairs starts one connected pair per implementation.
func startBenchPairs(b *testing.B, entries, entrySize int) map[string]*perfPair {
	b.Helper()
	pairs := make(map[string]*perfPair)
	for _, impl := range benchImpls {
		pairs[impl] = startPerfPair(b, impl, entries, entrySize)
	}
	return pairs
}

// BenchmarkMsgApp measures MsgApps with one entry of 64 B, 1 KiB and
// 64 KiB, handed to Send one per call (perSend=1) and 64 per call
// (perSend=64): one op is one MsgApp, timed until the follower's Process
// has seen it. allocs/op is end to end (both Transports share the
// process), including the driver's (none per message: msgBuilder recycles
// them).
func BenchmarkMsgApp(b *testing.B) {
	shapes := msgAppShapes()
	pairs := startBenchPairs(b, shapes[0].entries, shapes[0].size)
	for _, shape := range shapes {
		b.Run(shape.name, func(b *testing.B) {
			for _, n := range perSendCounts() {
				runMsgAppCase(b, pairs, shape.withPerSend(n))
			}
		})
	}
}

// BenchmarkMsgAppBatch measures MsgApps carrying 64 entries of 128 B, 64
// per Send call.
func BenchmarkMsgAppBatch(b *testing.B) {
	shape := batchShape()
	pairs := startBenchPairs(b, shape.entries, shape.size)
	b.Run(shape.name, func(b *testing.B) { runMsgAppCase(b, pairs, shape) })
}

// runMsgAppCase runs one shape's perSend level, etcd's pair then ours.
func runMsgAppCase(b *testing.B, pairs map[string]*perfPair, shape msgShape) {
	b.Run(shape.perSendName(), func(b *testing.B) {
		for _, impl := range benchImpls {
			b.Run("impl="+impl, func(b *testing.B) { benchMsgApps(b, pairs[impl], shape) })
		}
	})
}

// benchMsgApps sends b.N MsgApps of the given shape over p and waits until
// the follower processed them all, then checks that nothing was dropped or
// reported unreachable and that the msgappv2 stream carried them.
func benchMsgApps(b *testing.B, p *perfPair, shape msgShape) {
	p.apps.setShape(shape)
	if err := p.apps.sendAndDrain(sendWindow); err != nil { // warm up this shape
		b.Fatal(err)
	}
	before := p.counts()
	b.SetBytes(int64(shape.payload()))
	b.ReportAllocs()
	cpu, err := startCPUMeter()
	if err != nil {
		b.Fatal(err)
	}
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	b.ResetTimer()
	withLabels(p.sendLabels, func() { err = p.apps.sendAndDrain(b.N) })
	b.StopTimer()
	runtime.ReadMemStats(&mem1)
	use, cpuErr := cpu.stop()
	if err = errors.Join(err, cpuErr); err != nil {
		b.Fatalf("%s: %v", p.impl, err)
	}
	reportCPU(b, use, b.N, "msg", p.cpuSplit())
	// allocs/op rounded down hides allocations shared by several
	// messages; this is the same count, unrounded.
	b.ReportMetric(float64(mem1.Mallocs-mem0.Mallocs)/float64(b.N), "allocs/msg")
	if err := p.check(before); err != nil {
		b.Fatal(err)
	}
	if got, least := p.counts().msgApp-before.msgApp, int64(b.N*shape.payload())-countSlack; got < least {
		b.Fatalf("%s: msgappv2 stream carried %d bytes, want at least %d", p.impl, got, least)
	}
	// Each flush of the stream is at least one write system call on the
	// sender and one read on the receiver.
	after := p.counts()
	b.ReportMetric(float64(after.appFlush-before.appFlush)/float64(b.N), "flushes/msg")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkMsgAppBuild only builds the messages the MsgApp benchmarks
// send: subtract its allocs/op and B/op from theirs to get the Transport's.
func BenchmarkMsgAppBuild(b *testing.B) {
	for _, s := range allShapes() {
		b.Run(s.name, func(b *testing.B) {
			mb := newMsgBuilder(leaderID, followerID, s.entries, s.size)
			buf := make([]*raftpb.Message, sendBatch)
			b.ReportAllocs()
			for i := 0; i < b.N; i += sendBatch {
				mb.fill(buf[:min(sendBatch, b.N-i)])
			}
		})
	}
}

// BenchmarkHeartbeatUnderLoad measures heartbeat round trips (MsgHeartbeat
// to the follower, MsgHeartbeatResp back, one at a time) while another
// goroutine keeps the 1 KiB MsgApp window full. One op is one round trip;
// p50-ns and p99-ns are its percentiles, load-msgs/s the MsgApp rate
// meanwhile.
func BenchmarkHeartbeatUnderLoad(b *testing.B) {
	pairs := startBenchPairs(b, 1, 1<<10)
	for _, impl := range benchImpls {
		b.Run("impl="+impl, func(b *testing.B) { benchHeartbeatRTT(b, pairs[impl]) })
	}
}

func benchHeartbeatRTT(b *testing.B, p *perfPair) {
	before := p.counts()
	stop, primed := make(chan struct{}), make(chan struct{})
	loadDone := make(chan error, 1)
	go func() { loadDone <- p.loadUntil(stop, primed) }()
	stopLoad := func() error {
		close(stop)
		if err := <-loadDone; err != nil {
			return err
		}
		return p.apps.drain()
	}
	// Let the window fill before the first ping.
	select {
	case <-primed:
	case err := <-loadDone:
		b.Fatalf("%s: load stopped early: %v", p.impl, err)
	}
	lat := make([]time.Duration, 0, b.N)
	loadStart := p.apps.sent.Load()
	b.ResetTimer()
	for range b.N {
		rtt, err := p.ping(10 * time.Second)
		if err != nil {
			b.StopTimer()
			b.Fatal(err, stopLoad())
		}
		lat = append(lat, rtt)
	}
	b.StopTimer()
	loadSent := p.apps.sent.Load() - loadStart
	if err := stopLoad(); err != nil {
		b.Fatalf("%s: %v", p.impl, err)
	}
	if err := p.check(before); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(lat, 0.99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(loadSent)/b.Elapsed().Seconds(), "load-msgs/s")
}

// loadUntil keeps the MsgApp window full until stop closes. It closes
// primed once it has sent two windows' worth.
func (p *perfPair) loadUntil(stop <-chan struct{}, primed chan<- struct{}) error {
	for sent := 0; ; sent += sendBatch {
		if sent == 2*sendWindow {
			close(primed)
		}
		select {
		case <-stop:
			return nil
		default:
		}
		if err := p.apps.send(sendBatch); err != nil {
			return err
		}
	}
}

// percentile returns the q-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// TestPerfHarness runs every part of the performance suite once, briefly,
// so `go test -race` covers the harness: each implementation's pair moves
// MsgApps of every shape with nothing dropped, answers pings under load,
// takes a small snapshot; and the raw baselines and idle-peer count work.
func TestPerfHarness(t *testing.T) {
	src := writePatternFile(t, t.TempDir(), 1<<20)
	for _, impl := range benchImpls {
		t.Run(impl, func(t *testing.T) {
			p := startPerfPair(t, impl, 1, 64)
			before := p.counts()
			// More small messages than the driver's ring holds, so it waits
			// for room in the window and reuses messages; then one message
			// per Send call, and the other shapes.
			for _, run := range []struct {
				shape msgShape
				n     int
			}{
				{singleEntry(64), recycleLen + 2*sendWindow},
				{singleEntry(64).withPerSend(1), sendWindow + 100},
				{singleEntry(64 << 10), 128},
				{batchShape(), 256},
			} {
				p.apps.setShape(run.shape)
				if err := p.apps.sendAndDrain(run.n); err != nil {
					t.Fatal(err)
				}
			}
			stop, primed := make(chan struct{}), make(chan struct{})
			loadDone := make(chan error, 1)
			go func() { loadDone <- p.loadUntil(stop, primed) }()
			<-primed
			for range 5 {
				if _, err := p.ping(10 * time.Second); err != nil {
					t.Error(err)
				}
			}
			close(stop)
			if err := <-loadDone; err != nil {
				t.Fatal(err)
			}
			if err := p.apps.drain(); err != nil {
				t.Fatal(err)
			}
			if err := p.check(before); err != nil {
				t.Fatal(err)
			}
			if err := p.sendSnapshotFile(src, 1<<20, 0x77); err != nil {
				t.Fatal(err)
			}
			cost, err := measureIdlePeers(t, impl, 3)
			if err != nil {
				t.Fatal(err)
			}
			if cost.goroutines <= 0 || cost.bytes <= 0 {
				t.Errorf("idle peer cost %+v, want positive", cost)
			}
		})
	}
	if err := rawFileCopy(src, t.TempDir(), 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := sendRawFrames(64, 10000); err != nil {
		t.Fatal(err)
	}
}
