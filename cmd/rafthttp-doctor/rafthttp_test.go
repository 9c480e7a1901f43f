package main

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/examples/raftexample/cluster"
	"github.com/rafthttp/rafthttp/examples/raftexample/kv"
	"github.com/rafthttp/rafthttp/internal/doctor"
	"github.com/rafthttp/rafthttp/probing"
	"github.com/rafthttp/rafthttp/types"
)

// idleRaft is a Raft that must never be handed anything: the doctor
// delivers no raft message.
type idleRaft struct{ t *testing.T }

func (r idleRaft) Process(context.Context, *raftpb.Message) error {
	r.t.Error("the doctor delivered a raft message")
	return nil
}
func (idleRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {}
func (idleRaft) ReportUnreachable(uint64)                   {}
func (idleRaft) IsIDRemoved(uint64) bool                    { return false }

// startTransport serves a started Transport; a non-zero shift mounts a
// probing handler whose clock runs that far ahead in front of it.
func startTransport(t *testing.T, id uint64, shift time.Duration) (*rafthttp.Transport, string) {
	t.Helper()
	tr := &rafthttp.Transport{ID: types.ID(id), ClusterID: 0xc0ffee, Raft: idleRaft{t}, ServerVersion: "3.6.2"}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	var h http.Handler = tr.Handler()
	if shift != 0 {
		mux := http.NewServeMux()
		mux.Handle(rafthttp.ProbingPrefix, probing.NewHandlerWithClock(func() time.Time { return time.Now().Add(shift) }))
		mux.Handle("/", tr.Handler())
		h = mux
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		tr.Stop()
	})
	return tr, srv.URL
}

// TestTransportClockDrift checks two peers built on our Transport, one
// whose probing clock runs 3 s ahead: the doctor must measure -3 s (local
// minus peer) within 100 ms and call it drift; the other is healthy.
func TestTransportClockDrift(t *testing.T) {
	const shift = 3 * time.Second
	tr1, good := startTransport(t, 1, 0)
	tr2, ahead := startTransport(t, 2, shift)
	code, rep := doctorJSON(t, good, ahead)
	wantVerdicts(t, code, rep, 2, map[string]string{good: doctor.CodeOK, ahead: doctor.CodeClockDrift})
	if d := rep.Peers[1].Probe.DriftMS; math.Abs(d+float64(shift/time.Millisecond)) > 100 {
		t.Errorf("drift %.1fms, want -3000ms ± 100ms", d)
	}
	for _, p := range rep.Peers {
		if p.ClusterID != "c0ffee" || p.Version.Server != "3.6.2" || p.Version.Source != "X-Server-Version" {
			t.Errorf("%s: cluster %q version %+v", p.URL, p.ClusterID, p.Version)
		}
	}
	if tr1.ActivePeers() != 0 || tr2.ActivePeers() != 0 {
		t.Error("the doctor's probe became an active peer")
	}
}

// TestRaftexampleCluster runs the doctor against examples/raftexample,
// which serves the raft paths but neither /version nor /members.
func TestRaftexampleCluster(t *testing.T) {
	c := startRaftexample(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	before, err := c.Statuses(ctx, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{c.PeerURL(1), c.PeerURL(2), c.PeerURL(3)}
	code, rep := doctorJSON(t, urls...)
	wantVerdicts(t, code, rep, 0, allCodes(urls, doctor.CodeOK))
	for _, p := range rep.Peers {
		if p.ClusterID == "" || p.ClusterID != rep.ClusterID || p.Version.Server == "" || len(p.Stream) != 2 || p.Probe.Count != 10 {
			t.Errorf("%s: incomplete report %+v", p.URL, p)
		}
	}
	after, err := c.Statuses(ctx, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	assertSameTerms(t, before, after)
	for id := uint64(1); id <= 3; id++ {
		if tail := c.LogTail(id, 50); strings.Count(tail, "failed to find remote peer in cluster") != 2 {
			t.Errorf("member %d log does not show the 2 stream probes:\n%s", id, tail)
		}
	}
}

func assertSameTerms(t *testing.T, before, after []kv.Status) {
	t.Helper()
	for i := range before {
		if before[i].Term != after[i].Term || before[i].Leader != after[i].Leader {
			t.Errorf("member %d: term/leader %d/%d before the doctor, %d/%d after", before[i].ID,
				before[i].Term, before[i].Leader, after[i].Term, after[i].Leader)
		}
	}
}

func startRaftexample(t *testing.T, size int) *cluster.Cluster {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := cluster.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.New(cluster.Options{Binary: bin, Dir: dir, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	for id := uint64(1); id <= uint64(size); id++ {
		if err := c.Start(id); err != nil {
			t.Fatal(err)
		}
	}
	return c
}
