package rafthttp

import (
	"context"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/stats"
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

	p.sendAll([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
	p.sendAll([]*raftpb.Message{msg(raftpb.MsgSnap, 1, 2, 1)})
	if got := p.writer.queue.len(); got != 1 {
		t.Errorf("message stream queue holds %d, want 1", got)
	}
	if got := len(p.pipeline.msgc); got != 1 {
		t.Errorf("pipeline queue holds %d, want 1 (the MsgSnap)", got)
	}

	p.Pause()
	p.sendAll([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
	if got := p.writer.queue.len(); got != 1 {
		t.Errorf("a paused peer queued a message: stream queue holds %d", got)
	}
	p.Resume()
	p.sendAll([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
	if got := p.writer.queue.len(); got != 2 {
		t.Errorf("a resumed peer did not queue: stream queue holds %d, want 2", got)
	}
	if got := f.unreachable(); len(got) != 0 {
		t.Errorf("ReportUnreachable%v without any drop", got)
	}
}

func TestPeerSendAllQueuesRunsPerChannel(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) { tr.Limits.StreamBufSize = 3 })
	p := utNewIdlePeer(t, f, nil)
	p.msgAppV2Writer.setWorking(true)
	p.writer.setWorking(true)

	p.sendAll([]*raftpb.Message{
		msg(raftpb.MsgApp, 1, 2, 1), msg(raftpb.MsgApp, 1, 2, 2),
		msg(raftpb.MsgHeartbeat, 1, 2, 3),
		// Room for one more MsgApp: the last two of this run are dropped.
		msg(raftpb.MsgApp, 1, 2, 4), msg(raftpb.MsgApp, 1, 2, 5), msg(raftpb.MsgApp, 1, 2, 6),
		msg(raftpb.MsgHeartbeat, 1, 2, 7),
	})
	if got := utTerms(p.msgAppV2Writer.queue.take()); !utEqualTerms(got, []uint64{1, 2, 4}) {
		t.Errorf("msgappv2 queue holds terms %v, want [1 2 4]", got)
	}
	if got := utTerms(p.writer.queue.take()); !utEqualTerms(got, []uint64{3, 7}) {
		t.Errorf("message queue holds terms %v, want [3 7]", got)
	}
	if got := f.unreachable(); len(got) != 2 {
		t.Errorf("ReportUnreachable%v, want one per dropped MsgApp", got)
	}
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_failures_total", map[string]string{"To": "2"}); got != 2 {
		t.Errorf("sent failures = %v, want 2", got)
	}
}

// TestPeerSendAllLeavesStreamedAppsToTheWriter checks which MsgApps
// sendAll returns for Send to record in ServerStats: those queued on the
// msgappv2 stream are the writer's to record, everything else (other
// channels, drops, a paused peer) is Send's, so every MsgApp counts once.
func TestPeerSendAllLeavesStreamedAppsToTheWriter(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) {
		tr.Limits.StreamBufSize = 2
		tr.ServerStats = stats.NewServerStats("1", "1")
	})
	p := utNewIdlePeer(t, f, nil)
	app := func(term uint64) *raftpb.Message { return msg(raftpb.MsgApp, 1, 2, term) }
	size := proto.Size(app(1))
	steps := []struct {
		name       string
		msgs       []*raftpb.Message
		wantCount  int
		setWorking bool
	}{
		{"pipeline", []*raftpb.Message{app(1), msg(raftpb.MsgHeartbeat, 1, 2, 1)}, 1, false},
		{"msgappv2 stream", []*raftpb.Message{app(1), msg(raftpb.MsgHeartbeat, 1, 2, 1), app(1)}, 0, true},
		{"msgappv2 queue full: drops", []*raftpb.Message{app(1), app(1)}, 2, true},
	}
	for _, st := range steps {
		p.msgAppV2Writer.setWorking(st.setWorking)
		if apps, bytes := p.sendAll(st.msgs); apps != st.wantCount || bytes != st.wantCount*size {
			t.Errorf("%s: sendAll returned %d MsgApps of %d bytes, want %d of %d", st.name, apps, bytes, st.wantCount, st.wantCount*size)
		}
	}
	p.Pause()
	if apps, _ := p.sendAll([]*raftpb.Message{app(1)}); apps != 1 {
		t.Errorf("paused: sendAll returned %d MsgApps, want 1 (etcd counts them)", apps)
	}
}

func TestPeerSendDropsWhenStreamQueueFull(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) { tr.Limits.StreamBufSize = 2 })
	p := utNewIdlePeer(t, f, nil)
	p.msgAppV2Writer.setWorking(true)
	for range 3 {
		p.sendAll([]*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1)})
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
	// raft hears of it too, as of every failed snapshot.
	if got := f.raft.snapshotReports(); len(got) != 1 || got[0] != raft.SnapshotFailure {
		t.Errorf("ReportSnapshot%v, want one SnapshotFailure", got)
	}
}

func TestPeerAttachToStoppedWriterClosesConn(t *testing.T) {
	f := utNewFixture(t, nil)
	p := utNewIdlePeer(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.writer.run(ctx) // returns at once: the writer is done
	conn := newOutgoingConn(streamTypeMessage, 1, 2, httptest.NewRecorder(), time.Second, &bufferPool{})
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

// gatedRaft records the order of processed messages and holds the first
// one until gate is closed.
type gatedRaft struct {
	recordingRaft
	gate    chan struct{}
	started chan struct{}
	once    sync.Once
	mu      sync.Mutex
	order   []uint64 // terms, which the test uses as labels
}

func (r *gatedRaft) Process(_ context.Context, m *raftpb.Message) error {
	r.once.Do(func() {
		close(r.started)
		<-r.gate
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = append(r.order, m.GetTerm())
	return nil
}

func (r *gatedRaft) processed() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

func TestPeerServesUrgentBetweenBulkMessages(t *testing.T) {
	f := utNewFixture(t, nil)
	r := &gatedRaft{gate: make(chan struct{}), started: make(chan struct{})}
	f.env.raft = r
	p := utNewIdlePeer(t, f, nil)
	urgent, bulk := newMsgQueue(8), newMsgQueue(8)
	for term := range uint64(3) { // taken as one batch: terms 0, 1, 2
		bulk.offer(msg(raftpb.MsgApp, 2, 1, term))
	}
	p.wg.Go(func() { p.processPrioritized(urgent, bulk) })
	<-r.started // term 0 is being processed
	urgent.offer(msg(raftpb.MsgHeartbeat, 2, 1, 100))
	close(r.gate)
	want := []uint64{0, 100, 1, 2}
	waitFor(t, 5*time.Second, "every message to be processed", func() bool { return len(r.processed()) == len(want) })
	if got := r.processed(); !slices.Equal(got, want) {
		t.Errorf("processed terms %v, want %v: the heartbeat must not wait for the rest of the batch", got, want)
	}
	p.cancel()
	p.wg.Wait()
}
