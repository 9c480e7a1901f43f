package rafthttp

import (
	"bufio"
	"bytes"
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

// BenchmarkMsgAppV2Decode decodes fast-path MsgApp records with one entry
// from memory: the receive side's codec cost without the network.
func BenchmarkMsgAppV2Decode(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("size=%dB", size), func(b *testing.B) {
			var buf bytes.Buffer
			enc := newMsgAppV2Encoder(&buf)
			app := func(index uint64) *raftpb.Message {
				m := msg(raftpb.MsgApp, 2, 1, 1)
				m.LogTerm, m.Index, m.Commit = proto.Uint64(1), proto.Uint64(index), proto.Uint64(index)
				m.Entries = []*raftpb.Entry{{Term: proto.Uint64(1), Index: proto.Uint64(index + 1), Data: make([]byte, size)}}
				return m
			}
			// The full record, then one fast-path record to replay.
			first := 0
			for i := range uint64(2) {
				first = buf.Len()
				if err := enc.encode(app(i)); err != nil {
					b.Fatal(err)
				}
			}
			r := &replayReader{head: buf.Bytes()[:first], loop: buf.Bytes()[first:]}
			dec := newMsgAppV2Decoder(bufio.NewReaderSize(r, streamReadBufSize), 1, 2, 1<<30)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec.decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamDecodeNoEntries decodes, from memory, the messages
// without entries a raft cluster's streams carry most: a follower's
// MsgAppResp on the message stream, and a leader's MsgApp that only
// advances the commit index on the msgappv2 stream.
func BenchmarkStreamDecodeNoEntries(b *testing.B) {
	b.Run("stream=message/type=MsgAppResp", func(b *testing.B) {
		m := msg(raftpb.MsgAppResp, 2, 1, 1)
		m.Index, m.Commit = proto.Uint64(123456), proto.Uint64(123400)
		var buf bytes.Buffer
		if err := newMessageEncoder(&buf).encode(m); err != nil {
			b.Fatal(err)
		}
		r := &replayReader{loop: buf.Bytes()}
		benchDecode(b, newStreamMessageDecoder(bufio.NewReaderSize(r, streamReadBufSize), 1<<30))
	})
	b.Run("stream=msgappv2/type=MsgApp/entries=0", func(b *testing.B) {
		var buf bytes.Buffer
		enc := newMsgAppV2Encoder(&buf)
		m := msg(raftpb.MsgApp, 2, 1, 1)
		m.LogTerm, m.Index, m.Commit = proto.Uint64(1), proto.Uint64(7), proto.Uint64(7)
		if err := enc.encode(m); err != nil { // the full record
			b.Fatal(err)
		}
		first := buf.Len()
		m.Entries = []*raftpb.Entry{}
		if err := enc.encode(m); err != nil { // then a fast-path one to replay
			b.Fatal(err)
		}
		r := &replayReader{head: buf.Bytes()[:first], loop: buf.Bytes()[first:]}
		benchDecode(b, newMsgAppV2Decoder(bufio.NewReaderSize(r, streamReadBufSize), 1, 2, 1<<30))
	})
}

func benchDecode(b *testing.B, dec decoder) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dec.decode(); err != nil {
			b.Fatal(err)
		}
	}
}

// replayReader returns head once, then loop over and over.
type replayReader struct {
	head, loop []byte
	off        int
}

func (r *replayReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(r.head) > 0 {
			c := copy(p[n:], r.head)
			r.head, n = r.head[c:], n+c
			continue
		}
		c := copy(p[n:], r.loop[r.off:])
		r.off, n = (r.off+c)%len(r.loop), n+c
	}
	return n, nil
}
