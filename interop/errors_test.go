package interop

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Response bodies fixed by the protocol (http.Error adds the newline).
const (
	bodyClusterIDMismatch = "cluster ID mismatch\n"
	bodyRemovedMember     = "removed member\n"
	errTextMemberRemoved  = "the member has been permanently removed from the cluster"
)

// hexID formats an ID as both implementations put it in headers and paths.
func hexID(id uint64) string { return strconv.FormatUint(id, 16) }

// TestClusterIDMismatch runs the members with different cluster IDs. Each
// refuses the other's stream dials and POSTs with 412 "cluster ID
// mismatch", nothing is processed, and nobody becomes active. Then the
// headers the peer really sent are replayed at each endpoint.
func TestClusterIDMismatch(t *testing.T) {
	ours, etcd := startPair(t, sideConfig{clusterID: clusterID}, sideConfig{clusterID: otherClust})
	connect(ours, etcd)
	for _, dir := range directions(ours, etcd) {
		// dir.to dials dir.from; dir.from sends to dir.to.
		t.Run(dir.name, func(t *testing.T) {
			var dial requestRecord
			for _, kind := range []streamKind{streamMessage, streamMsgAppV2} {
				waitFor(t, 5*time.Second, fmt.Sprintf("a refused %v stream dial", kind), func() bool {
					return len(dir.from.tap.streamResponses(kind, dir.to.id, http.StatusPreconditionFailed)) > 0
				})
				dial = dir.from.tap.streamResponses(kind, dir.to.id, 0)[0]
				if dial.status != http.StatusPreconditionFailed || string(dial.body) != bodyClusterIDMismatch {
					t.Errorf("%v stream dial answered %d %q, want 412 %q", kind, dial.status, dial.body, bodyClusterIDMismatch)
				}
			}
			checkRequestHeaders(t, dial.header, dir.to, dir.from, "")

			unreachable := dir.from.raft.unreachableCount(dir.to.id)
			refused := dir.to.tap.count(http.MethodPost, pathPipeline, http.StatusPreconditionFailed)
			dir.from.tr.Send([]*raftpb.Message{richMessage(raftpb.MsgHeartbeat, dir.from.id, dir.to.id)})
			waitFor(t, 5*time.Second, "the POST to be refused and reported", func() bool {
				return dir.to.tap.count(http.MethodPost, pathPipeline, http.StatusPreconditionFailed) > refused &&
					dir.from.raft.unreachableCount(dir.to.id) > unreachable
			})
			dir.to.raft.assertNothingProcessed(t)

			replayMismatched(t, dir.from, dir.to, dial.header)
		})
	}
	for _, s := range []*side{ours, etcd} {
		if at := s.tr.activeSince(ours.id + etcd.id - s.id); !at.IsZero() {
			t.Errorf("%s: peer active since %v despite the mismatch", s.name, at)
		}
		s.raft.assertNothingProcessed(t)
	}
}

// replayMismatched sends srv's owner requests with the headers the peer
// sent and expects each endpoint to refuse them with 412 and the cluster
// mismatch body, announcing its own cluster ID.
func replayMismatched(t *testing.T, srv, peer *side, header http.Header) {
	t.Helper()
	body, err := proto.Marshal(richMessage(raftpb.MsgHeartbeat, peer.id, srv.id))
	if err != nil {
		t.Fatal(err)
	}
	post := header.Clone()
	post.Del("X-Raft-To")
	pipe := post.Clone()
	pipe.Set("Content-Type", "application/protobuf")
	snap := post.Clone()
	snap.Set("Content-Type", "application/octet-stream")
	for _, tc := range []struct {
		method, path string
		header       http.Header
	}{
		{http.MethodGet, dirStreamMessage + "/" + hexID(peer.id), header},
		{http.MethodGet, dirStreamMsgApp + "/" + hexID(peer.id), header},
		{http.MethodPost, pathPipeline, pipe},
		{http.MethodPost, pathSnapshot, snap},
	} {
		var reqBody io.Reader
		if tc.method == http.MethodPost {
			reqBody = bytes.NewReader(body)
		}
		resp, got := doRequest(t, tc.method, srv.srv.URL+tc.path, tc.header, reqBody)
		if resp.StatusCode != http.StatusPreconditionFailed || got != bodyClusterIDMismatch {
			t.Errorf("%s %s to %s: %d %q, want 412 %q", tc.method, tc.path, srv.name, resp.StatusCode, got, bodyClusterIDMismatch)
		}
		if cid := resp.Header.Get("X-Etcd-Cluster-Id"); cid != hexID(srv.cluster) {
			t.Errorf("%s %s to %s: X-Etcd-Cluster-ID %q, want %q", tc.method, tc.path, srv.name, cid, hexID(srv.cluster))
		}
	}
}

// TestRemovedMember has one member's raft report the other as removed. The
// removed member's stream dials get 410 "removed member", and its Transport
// reports errMemberRemoved on ErrorC; the other member reports nothing.
func TestRemovedMember(t *testing.T) {
	for _, tc := range []struct {
		name         string
		oursRemoves  bool
		etcdRemoves  bool
		victimIsOurs bool
	}{
		{name: "etcd_removes_ours", etcdRemoves: true, victimIsOurs: true},
		{name: "ours_removes_etcd", oursRemoves: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oursCfg := sideConfig{clusterID: clusterID}
			etcdCfg := sideConfig{clusterID: clusterID}
			if tc.oursRemoves {
				oursCfg.removed = []uint64{etcdID}
			}
			if tc.etcdRemoves {
				etcdCfg.removed = []uint64{ourID}
			}
			ours, etcd := startPair(t, oursCfg, etcdCfg)
			victim, remover := etcd, ours
			if tc.victimIsOurs {
				victim, remover = ours, etcd
			}
			connect(ours, etcd)

			select {
			case err := <-victim.errorc:
				if err == nil || err.Error() != errTextMemberRemoved {
					t.Errorf("%s ErrorC got %v, want %q", victim.name, err, errTextMemberRemoved)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s reported nothing on ErrorC", victim.name)
			}
			for _, kind := range []streamKind{streamMessage, streamMsgAppV2} {
				waitFor(t, 5*time.Second, fmt.Sprintf("a %v dial answered 410", kind), func() bool {
					return len(remover.tap.streamResponses(kind, victim.id, http.StatusGone)) > 0
				})
				r := remover.tap.streamResponses(kind, victim.id, http.StatusGone)[0]
				if string(r.body) != bodyRemovedMember {
					t.Errorf("%v dial answered 410 %q, want %q", kind, r.body, bodyRemovedMember)
				}
			}
			if got := remover.tap.streamResponses(streamMessage, victim.id, http.StatusOK); len(got) != 0 {
				t.Errorf("%s accepted %d streams from the removed member", remover.name, len(got))
			}
			select {
			case err := <-remover.errorc:
				t.Errorf("%s ErrorC got %v, want nothing", remover.name, err)
			default:
			}
		})
	}
}

// TestForbiddenPost has each member's raft refuse the other's messages the
// way etcd's server refuses a removed member: Process returns an error that
// writes a 403. With streams refused, every message is a POST; the sender
// must report errMemberRemoved on ErrorC and the message as unreachable.
func TestForbiddenPost(t *testing.T) {
	ours, etcd := startPair(t,
		sideConfig{clusterID: clusterID, blockStreams: true, rejectFrom: []uint64{etcdID}},
		sideConfig{clusterID: clusterID, blockStreams: true, rejectFrom: []uint64{ourID}})
	connect(ours, etcd)
	for _, dir := range directions(ours, etcd) {
		t.Run(dir.name, func(t *testing.T) {
			unreachable := dir.from.raft.unreachableCount(dir.to.id)
			dir.from.tr.Send([]*raftpb.Message{richMessage(raftpb.MsgVote, dir.from.id, dir.to.id)})
			select {
			case err := <-dir.from.errorc:
				if err == nil || err.Error() != errTextMemberRemoved {
					t.Errorf("%s ErrorC got %v, want %q", dir.from.name, err, errTextMemberRemoved)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s reported nothing on ErrorC", dir.from.name)
			}
			if n := dir.to.tap.count(http.MethodPost, pathPipeline, http.StatusForbidden); n != 1 {
				t.Errorf("%s answered %d POSTs with 403, want 1", dir.to.name, n)
			}
			waitFor(t, 5*time.Second, "the message to be reported unreachable", func() bool {
				return dir.from.raft.unreachableCount(dir.to.id) > unreachable
			})
			dir.to.raft.assertNothingProcessed(t)
		})
	}
}
