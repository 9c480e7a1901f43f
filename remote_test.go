package rafthttp

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func TestRemoteSendsThroughPipeline(t *testing.T) {
	f := utNewFixture(t, nil)
	rec := &utRecorder{}
	f.env.pipelineRt = rec
	r := startRemote(f.env, 3, utMustURLs(t, "http://localhost:2390"))
	defer r.stop()

	r.send(msg(raftpb.MsgAppResp, 1, 3, 2))
	waitFor(t, 5*time.Second, "the remote's POST", func() bool { return len(rec.requests()) == 1 })
	if got := rec.requests()[0].url; got != "http://localhost:2390/raft" {
		t.Errorf("posted to %s, want http://localhost:2390/raft", got)
	}
	waitFor(t, 5*time.Second, "the remote to become active", r.status.isActive)
}

func TestRemotePauseResume(t *testing.T) {
	f := utNewFixture(t, nil)
	var posts atomic.Int64
	f.env.pipelineRt = utRoundTripper(func(*http.Request) (*http.Response, error) {
		posts.Add(1)
		return utResp(http.StatusNoContent, nil, ""), nil
	})
	r := startRemote(f.env, 3, utMustURLs(t, "http://localhost:2390"))
	defer r.stop()

	r.Pause()
	r.send(msg(raftpb.MsgAppResp, 1, 3, 2))
	r.Resume()
	r.send(msg(raftpb.MsgAppResp, 1, 3, 3))
	waitFor(t, 5*time.Second, "the message sent after Resume", func() bool { return posts.Load() >= 1 })
	r.stop() // waits for the workers, so every post has happened
	if got := posts.Load(); got != 1 {
		t.Errorf("%d posts, want 1: the message sent while paused must be dropped", got)
	}
}

func TestRemoteDropsWhenBufferFull(t *testing.T) {
	f := utNewFixture(t, func(tr *Transport) {
		tr.Limits.PipelineWorkers = 1
		tr.Limits.PipelineBufSize = 2
	})
	blocker := newUTBlocker()
	t.Cleanup(blocker.unblock)
	f.env.pipelineRt = blocker
	r := startRemote(f.env, 3, utMustURLs(t, "http://localhost:2390"))
	defer r.stop()

	r.send(msg(raftpb.MsgApp, 1, 3, 1))
	waitFor(t, 5*time.Second, "the worker to block", func() bool { return blocker.inflight.Load() == 1 })
	for range 2 {
		r.send(msg(raftpb.MsgApp, 1, 3, 1))
	}
	to3 := map[string]string{"To": "3"}
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_failures_total", to3); got != 0 {
		t.Fatalf("sent_failures = %v before the buffer was full", got)
	}
	r.send(msg(raftpb.MsgApp, 1, 3, 1))
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_failures_total", to3); got != 1 {
		t.Errorf("sent_failures = %v after a drop, want 1", got)
	}
	if got := f.unreachable(); len(got) != 0 {
		t.Errorf("a remote's drop reported unreachable %v; etcd reports nothing", got)
	}
	// The same drop while active uses the other wording; it still counts.
	r.status.activate()
	r.send(msg(raftpb.MsgApp, 1, 3, 1))
	if got := utMetricValue(t, f.reg, "etcd_network_peer_sent_failures_total", to3); got != 2 {
		t.Errorf("sent_failures = %v after a second drop, want 2", got)
	}
}
