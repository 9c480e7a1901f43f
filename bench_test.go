package rafthttp

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// countingRaft counts processed messages, signals progress every 256 and
// closes done when the target is hit.
type countingRaft struct {
	n        atomic.Int64
	target   atomic.Int64
	done     chan struct{}
	progress chan struct{}
}

func (r *countingRaft) Process(context.Context, *raftpb.Message) error {
	n := r.n.Add(1)
	if n%256 == 0 {
		select {
		case r.progress <- struct{}{}:
		default:
		}
	}
	if n == r.target.Load() {
		close(r.done)
	}
	return nil
}
func (r *countingRaft) IsIDRemoved(uint64) bool                    { return false }
func (r *countingRaft) ReportUnreachable(uint64)                   {}
func (r *countingRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {}

// BenchmarkSendMsgApp streams consecutive MsgApps with one entry each from
// member 1 to member 2, pausing whenever more than 2048 are in flight, so
// nothing is dropped.
func BenchmarkSendMsgApp(b *testing.B) {
	for _, size := range []int{64, 1024, 64 << 10} {
		b.Run(fmt.Sprintf("size=%dB", size), func(b *testing.B) { benchSendMsgApp(b, size) })
	}
}

func benchSendMsgApp(b *testing.B, size int) {
	cr := &countingRaft{done: make(chan struct{}), progress: make(chan struct{}, 1)}
	cr.target.Store(int64(b.N))
	a := startBenchMember(b, 1, newRecordingRaft())
	c := startBenchMember(b, 2, cr)
	a.tr.AddPeer(2, []string{c.srv.URL})
	c.tr.AddPeer(1, []string{a.srv.URL})
	waitFor(b, 5e9, "streams", func() bool {
		p := a.tr.Get(2).(*peer)
		return p.msgAppV2Writer.isWorking()
	})
	data := make([]byte, size)
	typ := raftpb.MsgApp
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for int64(i)-cr.n.Load() > 2048 {
			<-cr.progress // backpressure: let the receiver catch up
		}
		idx := uint64(i)
		m := &raftpb.Message{Type: &typ, From: proto.Uint64(1), To: proto.Uint64(2),
			Term: proto.Uint64(1), LogTerm: proto.Uint64(1), Index: proto.Uint64(idx),
			Entries: []*raftpb.Entry{{Term: proto.Uint64(1), Index: proto.Uint64(idx + 1), Data: data}},
			Commit:  proto.Uint64(idx)}
		a.tr.Send([]*raftpb.Message{m})
	}
	<-cr.done
	b.StopTimer()
}
