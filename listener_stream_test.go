package rafthttp

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// TestNewListenerKeepsIdleStreams serves two Transports through
// NewListenerWithTimeouts with a read timeout far shorter than the test:
// the peer never sends on a stream it opened, and that must not end it.
func TestNewListenerKeepsIdleStreams(t *testing.T) {
	const readTimeout = 100 * time.Millisecond
	serve := func(tr *Transport) string {
		l, err := NewListenerWithTimeouts(url.URL{Scheme: "http", Host: "127.0.0.1:0"}, nil, readTimeout, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: tr.Handler()}
		done := make(chan struct{})
		go func() { defer close(done); _ = srv.Serve(l) }()
		t.Cleanup(func() { tr.Stop(); srv.Close(); <-done })
		return "http://" + l.Addr().String()
	}
	a, b := newRecordingRaft(), newRecordingRaft()
	trA := &Transport{ID: 1, ClusterID: 0xc1, Raft: a}
	trB := &Transport{ID: 2, ClusterID: 0xc1, Raft: b}
	for _, tr := range []*Transport{trA, trB} {
		if err := tr.Start(); err != nil {
			t.Fatal(err)
		}
	}
	urlA, urlB := serve(trA), serve(trB)
	trA.AddPeer(2, []string{urlB})
	trB.AddPeer(1, []string{urlA})
	waitFor(t, 5*time.Second, "streams", func() bool {
		p, ok := trA.Get(2).(*peer)
		return ok && p.writer.isWorking() && p.msgAppV2Writer.isWorking()
	})
	since := trA.ActiveSince(2)
	time.Sleep(10 * readTimeout) // idle far past the listener's read timeout
	p := trA.Get(2).(*peer)
	if !p.writer.isWorking() || !p.msgAppV2Writer.isWorking() || !trA.ActiveSince(2).Equal(since) {
		t.Fatal("an idle stream was cut by the listener's read timeout")
	}
	trA.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, 1, 2, 1)})
	if got := b.receive(t); got.GetType() != raftpb.MsgHeartbeat {
		t.Fatalf("got %v", got.GetType())
	}
}
