package interop

import (
	"fmt"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// benchWindow is how many messages one benchmark iteration sends before
// waiting for them all to be processed.
const benchWindow = 64

// BenchmarkStreams measures one-way throughput over the streams of a live
// pair, ours→etcd and etcd→ours in the same run. Each iteration sends a
// window of messages in one Send call and waits until the receiver's raft
// has processed every one. MsgApps carry one entry of the named size and
// continue the log, so after the first one they take the msgappv2 fast
// path. Allocations are those of both Transports, which share the process.
func BenchmarkStreams(b *testing.B) {
	ours, etcd := startConnectedPair(b)
	for _, dir := range directions(ours, etcd) {
		// The log index continues across sub-benchmarks of a direction.
		var index uint64
		for _, shape := range msgAppShapes() {
			b.Run(dir.name+"/msgapp/"+shape.name, func(b *testing.B) {
				benchMsgApp(b, dir, shape.size, &index)
			})
		}
		b.Run(dir.name+"/message/heartbeat", func(b *testing.B) {
			benchHeartbeats(b, dir)
		})
	}
}

// sizeName renders a byte count as 64B, 1KiB or 64KiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return fmt.Sprintf("%dB", n)
	}
}

// benchMsgApp sends windows of consecutive MsgApps, each with one entry of
// size bytes.
func benchMsgApp(b *testing.B, dir direction, size int, index *uint64) {
	data := make([]byte, size)
	msgs := make([]*raftpb.Message, benchWindow)
	b.ReportAllocs()
	b.SetBytes(int64(benchWindow * size))
	for b.Loop() {
		for i := range msgs {
			idx := *index
			msgs[i] = msgApp(dir.from.id, dir.to.id, 1, 1, idx, idx, entry(1, idx+1, data))
			*index = idx + 1
		}
		dir.from.tr.Send(msgs)
		for range benchWindow {
			dir.to.raft.receive(b, 10*time.Second)
		}
	}
}

// benchHeartbeats sends windows of MsgHeartbeat over the message stream.
func benchHeartbeats(b *testing.B, dir direction) {
	msgs := make([]*raftpb.Message, benchWindow)
	for i := range msgs {
		msgs[i] = &raftpb.Message{
			Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(dir.from.id), To: proto.Uint64(dir.to.id),
			Term: proto.Uint64(1), Commit: proto.Uint64(uint64(i)),
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(benchWindow * proto.Size(msgs[0])))
	for b.Loop() {
		dir.from.tr.Send(msgs)
		for range benchWindow {
			dir.to.raft.receive(b, 10*time.Second)
		}
	}
}
