//go:build rafthttp_long

package rafthttp_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/types"
)

// The large-scale proofs, through rafthttptest's public socket
// faults. They move a gigabyte each, so they build only with the
// rafthttp_long tag and run without -race (`make test-long`):
//
//	go test -tags rafthttp_long -run 'TestLong' -v -count=1 -timeout 30m .

const longSize = 1 << 30

// A 1 GiB snapshot over a link capped at 20 MB/s (rafthttptest's
// bandwidth, not the Transport's send cap), cut at about 30%, 60% and 90%
// of the DB: it completes in four attempts, resuming each time, with at
// most 1.1x its size put on the wire, byte-identical.
func TestLongSnapshotCutThreeTimes(t *testing.T) {
	p := newPubPair(t, nil)
	p.c.SetBandwidth(1, 2, 20e6)
	path, sum := rafthttptest.WriteDBFile(t, t.TempDir(), longSize)
	p.checkCutThreeTimes(t, path, longSize, sum, 0)
}

// A 1 GiB snapshot whose link (100 MB/s) stalls for 10 s twice, at about
// a third and two thirds of the DB, completes in one attempt with the
// default stall timeout (30 s).
func TestLongSnapshotStallsTwice(t *testing.T) {
	p := newPubPair(t, nil)
	p.c.SetBandwidth(1, 2, 100e6)
	path, sum := rafthttptest.WriteDBFile(t, t.TempDir(), longSize)
	start := time.Now()
	m := p.start(t, path, 9)
	recv := p.c.Member(2).Transport()
	for _, at := range []int64{longSize / 3, 2 * longSize / 3} {
		rafthttptest.WaitFor(t, 2*time.Minute, "the transfer to reach the next stall", func() bool {
			return receivedBytes(recv) >= at
		})
		p.c.Stall(1, 2, 10*time.Second)
		t.Logf("stalled the link for 10s at %d bytes received, %v in", receivedBytes(recv), time.Since(start).Round(time.Second))
	}
	if !pubWait(t, m, 3*time.Minute) {
		t.Fatal("the stalled transfer failed")
	}
	t.Logf("ours: completed in one attempt in %v, %d snapshot failures reported",
		time.Since(start).Round(time.Second), len(p.snapshotReports())-1)
	if r := p.snapshotReports(); len(r) != 1 {
		t.Errorf("snapshot reports %v, want one SnapshotFinish", r)
	}
	pubCheckDB(t, p.c.Member(2).SnapDir(), 9, sum)
}

// receivedBytes is how much of the DB tr's receive in progress holds.
func receivedBytes(tr *rafthttp.Transport) int64 {
	for _, x := range tr.SnapshotTransfers() {
		if x.Direction == rafthttp.SnapshotReceiving {
			return x.Offset + x.Bytes
		}
	}
	return 0
}

// Heartbeat round trips on the peer pair that carries a 1 GiB snapshot,
// over a link of 25 MB/s from the sender behind a FIFO queue of
// heartbeatQueue that the snapshot and the heartbeats share, as on a real
// congested link: with the Transport's send cap at 20 MB/s
// (Limits.SnapshotSendBytesPerSecond) the snapshot leaves the queue
// nearly empty (a burst of the cap, at most 256 KiB, drains in 10 ms), and
// the p99 stays within twice its idle value (plus 10 ms for the
// scheduling noise of a loaded 2-core machine); without the cap the
// snapshot keeps the queue full, heartbeats wait for it to drain
// (heartbeatQueue / 25 MB/s, about 84 ms), and the figure is only logged.
func TestLongHeartbeatsDuringSnapshot(t *testing.T) {
	path, _ := rafthttptest.WriteDBFile(t, t.TempDir(), longSize)
	capped := func(tr *rafthttp.Transport) { tr.Limits.SnapshotSendBytesPerSecond = 20e6 }
	idle, busy := heartbeatsDuringSnapshot(t, path, capped)
	t.Logf("cap 20 MB/s on a 25 MB/s link: heartbeat RTT p99 idle %v, during the snapshot %v (%.2fx)",
		idle, busy, float64(busy)/float64(idle))
	if busy > 2*idle+10*time.Millisecond {
		t.Errorf("heartbeat p99 %v during a capped snapshot, idle %v: want at most 2x (+10ms)", busy, idle)
	}
	idle, busy = heartbeatsDuringSnapshot(t, path, nil)
	t.Logf("no cap on a 25 MB/s link: heartbeat RTT p99 idle %v, during the snapshot %v (%.2fx)",
		idle, busy, float64(busy)/float64(idle))
}

// heartbeatQueue is the depth of the queue in front of the 25 MB/s link
// in TestLongHeartbeatsDuringSnapshot: about what a Linux NIC's default
// transmit queue (1000 packets of 1500 bytes) holds, with a little switch
// buffer on top. Congested paths often queue more, which would only make
// the uncapped figure worse.
const heartbeatQueue = 2 << 20

// heartbeatsDuringSnapshot measures the heartbeat round-trip p99 from 1 to
// 2 and back, idle and while 1 sends the DB at path to 2.
func heartbeatsDuringSnapshot(t *testing.T, path string, configure func(*rafthttp.Transport)) (idle, busy time.Duration) {
	rafts := map[types.ID]*hbRaft{1: newHBRaft(1), 2: newHBRaft(2)}
	p := newPubPair(t, configure, rafthttptest.WithRaft(func(id types.ID) rafthttp.Raft { return rafts[id] }))
	for _, r := range rafts {
		r.c.Store(p.c)
	}
	p.c.SetBandwidth(1, 2, 25e6)
	p.c.SetQueue(1, 2, heartbeatQueue)
	r := rafts[1]
	var rtts []time.Duration
	for range 300 {
		rtts = append(rtts, r.ping(t))
	}
	idle = p99(rtts)
	m := p.start(t, path, 9)
	rtts = rtts[:0]
	start := time.Now()
	for {
		select {
		case ok := <-m.CloseNotify():
			if !ok {
				t.Fatal("the snapshot failed")
			}
			t.Logf("snapshot sent in %v; %d heartbeats during it", time.Since(start).Round(time.Second), len(rtts))
			return idle, p99(rtts)
		default:
			rtts = append(rtts, r.ping(t))
		}
	}
}

// p99 is the 99th percentile of ds (which it sorts).
func p99(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[(len(ds)*99+99)/100-1]
}

// hbRaft answers heartbeats through its member's Transport and passes the
// answers it receives to ping.
type hbRaft struct {
	id   types.ID
	c    atomic.Pointer[rafthttptest.Cluster]
	resp chan uint64
	seq  uint64 // owned by ping's caller
}

func newHBRaft(id types.ID) *hbRaft { return &hbRaft{id: id, resp: make(chan uint64, 16)} }

func (r *hbRaft) Process(_ context.Context, m *raftpb.Message) error {
	switch m.GetType() {
	case raftpb.MsgHeartbeat:
		if c := r.c.Load(); c != nil {
			if tr := c.Member(r.id).Transport(); tr != nil {
				tr.Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeatResp.Enum(), From: proto.Uint64(uint64(r.id)),
					To: proto.Uint64(m.GetFrom()), Term: proto.Uint64(m.GetTerm()), Commit: proto.Uint64(m.GetCommit())}})
			}
		}
	case raftpb.MsgHeartbeatResp:
		select {
		case r.resp <- m.GetCommit():
		default:
		}
	}
	return nil
}

func (*hbRaft) IsIDRemoved(uint64) bool                    { return false }
func (*hbRaft) ReportUnreachable(uint64)                   {}
func (*hbRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {}

// ping sends a heartbeat from r's member to member 2 and returns the time
// until its answer; it paces pings 10 ms apart.
func (r *hbRaft) ping(t *testing.T) time.Duration {
	t.Helper()
	r.seq++
	tr := r.c.Load().Member(r.id).Transport()
	start := time.Now()
	tr.Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(uint64(r.id)),
		To: proto.Uint64(2), Term: proto.Uint64(1), Commit: proto.Uint64(r.seq)}})
	timeout := time.After(10 * time.Second)
	for {
		select {
		case got := <-r.resp:
			if got == r.seq {
				rtt := time.Since(start)
				time.Sleep(10 * time.Millisecond)
				return rtt
			}
		case <-timeout:
			t.Fatalf("no answer to heartbeat %d within 10s", r.seq)
		}
	}
}
