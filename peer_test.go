package rafthttp

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/rafthttp/rafthttp/snap"
)

// utNewIdlePeer assembles a peer to member 2 around pl without starting
// any of its goroutines, so tests can drive pick and send directly. A nil
// pl gets a pipeline whose workers never run.
func utNewIdlePeer(t *testing.T, f *utFixture, pl *pipeline) *peer {
	t.Helper()
	status := newPeerStatus(f.env.lg, f.env.metrics, f.env.local, 2)
	if pl == nil {
		pl = newPipeline(f.env, f.env.lg, 2, newURLPicker(utMustURLs(t, "http://localhost:2380")), status, nil)
	}
	p := &peer{
		env: f.env, lg: f.env.lg, id: 2, status: pl.status, picker: pl.picker,
		msgAppV2Writer: newStreamWriter(f.env, f.env.lg, streamTypeMsgAppV2, 2, pl.status, nil),
		writer:         newStreamWriter(f.env, f.env.lg, streamTypeMessage, 2, pl.status, nil),
		pipeline:       pl,
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	t.Cleanup(p.cancel)
	return p
}

func TestPeerPick(t *testing.T) {
	tests := []struct {
		msgAppV2Working, msgWorking bool
		typ                         raftpb.MessageType
		want                        string
	}{
		{true, true, raftpb.MsgApp, channelStreamMsgAppV2},
		{true, true, raftpb.MsgHeartbeat, channelStreamMsg},
		{true, true, raftpb.MsgProp, channelStreamMsg},
		{true, true, raftpb.MsgSnap, channelPipeline},

		{true, false, raftpb.MsgApp, channelStreamMsgAppV2},
		{true, false, raftpb.MsgHeartbeat, channelPipeline},
		{true, false, raftpb.MsgProp, channelPipeline},
		{true, false, raftpb.MsgSnap, channelPipeline},

		{false, true, raftpb.MsgApp, channelStreamMsg},
		{false, true, raftpb.MsgHeartbeat, channelStreamMsg},
		{false, true, raftpb.MsgProp, channelStreamMsg},
		{false, true, raftpb.MsgSnap, channelPipeline},

		{false, false, raftpb.MsgApp, channelPipeline},
		{false, false, raftpb.MsgHeartbeat, channelPipeline},
		{false, false, raftpb.MsgProp, channelPipeline},
		{false, false, raftpb.MsgSnap, channelPipeline},
	}
	for _, tt := range tests {
		name := tt.typ.String()
		if tt.msgAppV2Working {
			name += "/msgappv2-up"
		}
		if tt.msgWorking {
			name += "/message-up"
		}
		t.Run(name, func(t *testing.T) {
			f := utNewFixture(t, nil)
			p := utNewIdlePeer(t, f, nil)
			p.msgAppV2Writer.setWorking(tt.msgAppV2Working)
			p.writer.setWorking(tt.msgWorking)

			c, got := p.pick(msg(tt.typ, 1, 2, 1))
			if got != tt.want {
				t.Fatalf("pick = %s, want %s", got, tt.want)
			}
			wantc := map[string]outbox{
				channelStreamMsgAppV2: p.msgAppV2Writer,
				channelStreamMsg:      p.writer,
				channelPipeline:       p.pipeline,
			}[tt.want]
			if c != wantc {
				t.Errorf("pick returned the wrong channel for %s", tt.want)
			}
		})
	}
}

func TestPeerSendQueuesOnPickedChannel(t *testing.T) {
	f := utNewFixture(t, nil)
	p := utNewIdlePeer(t, f, nil)
	p.writer.setWorking(true)

	p.send(msg(raftpb.MsgHeartbeat, 1, 2, 1))
	p.send(msg(raftpb.MsgSnap, 1, 2, 1))
	if got := p.writer.queue.len(); got != 1 {
		t.Errorf("message stream queue holds %d, want 1", got)
	}
	if got := len(p.pipeline.msgc); got != 1 {
		t.Errorf("pipeline queue holds %d, want 1 (the MsgSnap)", got)
	}

	p.Pause()
	p.send(msg(raftpb.MsgHeartbeat, 1, 2, 1))
	if got := p.writer.queue.len(); got != 1 {
		t.Errorf("a paused peer queued a message: stream queue holds %d", got)
	}
	p.Resume()
	p.send(msg(raftpb.MsgHeartbeat, 1, 2, 1))
	if got := p.writer.queue.len(); got != 2 {
		t.Errorf("a resumed peer did not queue: stream queue holds %d, want 2", got)
	}
	if got := f.unreachable(); len(got) != 0 {
		t.Errorf("ReportUnreachable%v without any drop", got)
	}
}

func TestPeerSendDropsWhenStreamQueueFull(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) { tr.Limits.StreamBufSize = 2 })
	p := utNewIdlePeer(t, f, nil)
	p.msgAppV2Writer.setWorking(true)
	for range 3 {
		p.send(msg(raftpb.MsgApp, 1, 2, 1))
	}
	if got := f.unreachable(); len(got) != 1 || got[0] != 2 {
		t.Errorf("ReportUnreachable%v, want [2]", got)
	}
	if got := f.raft.snapshotReports(); len(got) != 0 {
		t.Errorf("ReportSnapshot%v for a MsgApp drop", got)
	}
}

func TestPeerSendSnapAfterStopFails(t *testing.T) {
	f := utNewFixture(t, nil)
	p := utNewIdlePeer(t, f, nil)
	p.stop()
	sm := snap.NewMessage(msg(raftpb.MsgSnap, 1, 2, 1), nil, 0)
	p.sendSnap(sm)
	select {
	case ok := <-sm.CloseNotify():
		if ok {
			t.Error("CloseNotify = true for a snapshot sent to a stopped peer")
		}
	case <-time.After(time.Second):
		t.Fatal("CloseNotify never fired")
	}
}

func TestPeerAttachToStoppedWriterClosesConn(t *testing.T) {
	f := utNewFixture(t, nil)
	p := utNewIdlePeer(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.writer.run(ctx) // returns at once: the writer is done
	conn := newOutgoingConn(streamTypeMessage, 1, 2, httptest.NewRecorder(), time.Second)
	p.attachOutgoingConn(conn)
	select {
	case <-conn.done():
	default:
		t.Fatal("a conn offered to a stopped writer was left open")
	}
	if p.writer.isWorking() {
		t.Error("stopped writer reports working")
	}
}
