package rafthttp

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/transport"
	"github.com/rafthttp/rafthttp/types"
)

func TestMemberURI(t *testing.T) {
	if got := MemberURI(0x8e9e05c52164694d).String(); got != "rafthttp://member/8e9e05c52164694d" {
		t.Errorf("MemberURI = %s", got)
	}
	tests := []struct {
		uri  string
		want bool
	}{
		{"rafthttp://member/2", true},
		{"rafthttp://member/0002", true},
		{"RAFTHTTP://member/2", true}, // url.Parse lower-cases the scheme
		{"rafthttp://member/3", false},
		{"rafthttp://member/", false},
		{"rafthttp://member", false},
		{"rafthttp://member/2/", false},
		{"rafthttp://member/0x2", false},
		{"rafthttp://member/2?x=1", false},
		{"rafthttp://member/2#f", false},
		{"rafthttp://member/2?", false},
		{"rafthttp://user@member/2", false},
		{"rafthttp://member:80/2", false},
		{"rafthttp://other/2", false},
		{"https://member/2", false},
		{"rafthttp:member/2", false},
		{"rafthttp://member/10000000000000002", false},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.uri)
		if err != nil {
			t.Fatal(err)
		}
		err = VerifyMemberURI(2, &x509.Certificate{URIs: []*url.URL{u}})
		if (err == nil) != tt.want {
			t.Errorf("VerifyMemberURI(2, %s) = %v, want ok=%v", tt.uri, err, tt.want)
		}
		if err != nil && !errors.Is(err, ErrPeerIdentity) {
			t.Errorf("error %v is not ErrPeerIdentity", err)
		}
	}
	two := &x509.Certificate{URIs: []*url.URL{MemberURI(5), MemberURI(2)}}
	if err := VerifyMemberURI(2, two); err != nil {
		t.Errorf("second URI SAN not considered: %v", err)
	}
	if err := VerifyMemberURI(2, &x509.Certificate{}); err == nil {
		t.Error("certificate without URIs accepted")
	}
}

// secSpoofRequest builds a request to path on m claiming to come from
// member from, with body.
func secSpoofRequest(t *testing.T, m *secMember, method, path string, from types.ID, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, m.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(hdrServerFrom, from.String())
	req.Header.Set(hdrServerVersion, defaultServerVersion)
	req.Header.Set(hdrMinClusterVersion, defaultMinClusterVersion)
	req.Header.Set(hdrClusterID, "c1")
	req.Header.Set(hdrPeerURLs, "https://127.0.0.1:1")
	req.Header.Set(hdrRaftTo, m.tr.ID.String())
	return req
}

// TestIdentitySpoofRejected sends requests whose claimed member ID does
// not match the client certificate: each gets 403 and is counted, and
// nothing reaches raft or becomes a remote.
func TestIdentitySpoofRejected(t *testing.T) {
	pki := newSecPKI(t, "ca")
	m := startSecMember(t, 1, pki.info(t, "m1", secLeaf{cn: "m1", member: 1}),
		secOpts{tr: func(tr *Transport) { tr.VerifyPeerIdentity = VerifyMemberURI }})
	m.tr.AddPeer(2, []string{"https://127.0.0.1:1"})
	member3 := pki.info(t, "m3", secLeaf{cn: "m3", member: 3})
	anonymous := pki.info(t, "anon", secLeaf{cn: "m2"})
	heartbeat := func(from uint64) []byte { return secMarshal(t, msg(raftpb.MsgHeartbeat, from, 1, 1)) }
	envelope := func(from uint64) []byte { return secFrame(t, msg(raftpb.MsgSnap, from, 1, 1)) }
	tests := []struct {
		name, method, path, endpoint string
		client                       transport.TLSInfo
		from                         types.ID
		body                         []byte
	}{
		{"pipeline header spoof", http.MethodPost, RaftPrefix, endpointPipeline, member3, 2, heartbeat(2)},
		{"pipeline From spoof", http.MethodPost, RaftPrefix, endpointPipeline, member3, 3, heartbeat(2)},
		{"pipeline without member URI", http.MethodPost, RaftPrefix, endpointPipeline, anonymous, 2, heartbeat(2)},
		{"stream path spoof", http.MethodGet, RaftStreamPrefix + "/message/2", endpointStream, member3, 2, nil},
		{"stream header spoof", http.MethodGet, RaftStreamPrefix + "/msgapp/2", endpointStream, member3, 3, nil},
		{"snapshot header spoof", http.MethodPost, RaftSnapshotPrefix, endpointSnapshot, member3, 2, envelope(2)},
		{"snapshot From spoof", http.MethodPost, RaftSnapshotPrefix, endpointSnapshot, member3, 3, envelope(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := secMetric(t, m.reg, "etcd_network_peer_identity_rejections_total", map[string]string{"Endpoint": tt.endpoint})
			resp, body := secDo(t, tt.client, secSpoofRequest(t, m, tt.method, tt.path, tt.from, tt.body))
			if resp.StatusCode != http.StatusForbidden || body != identityRejectedBody+"\n" {
				t.Errorf("got %d %q, want 403 %q", resp.StatusCode, body, identityRejectedBody)
			}
			after := secMetric(t, m.reg, "etcd_network_peer_identity_rejections_total", map[string]string{"Endpoint": tt.endpoint})
			if after != before+1 {
				t.Errorf("identity rejections{Endpoint=%s} went from %v to %v", tt.endpoint, before, after)
			}
		})
	}
	select {
	case got := <-m.raft.recvc:
		t.Errorf("a spoofed message reached raft: %v", got)
	default:
	}
	// Member 3's claims of its own ID are verified, so it may become a
	// remote; a claim to be member 2 never may.
	if secHasRemote(m.tr, 2) {
		t.Error("a spoofed request added a remote")
	}
	// Member 3 speaking for itself is accepted.
	resp, body := secDo(t, member3, secSpoofRequest(t, m, http.MethodPost, RaftPrefix, 3, heartbeat(3)))
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("honest request answered %d %q", resp.StatusCode, body)
	}
}

// secHasRemote reports whether tr runs a remote for id.
func secHasRemote(tr *Transport, id types.ID) bool {
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	return tr.remotes[id] != nil
}

// secDo sends req through a fresh round tripper with info and returns the
// response and its body.
func secDo(t *testing.T, info transport.TLSInfo, req *http.Request) (*http.Response, string) {
	t.Helper()
	rt, err := NewRoundTripper(info, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer closeIdle(rt)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// TestIdentityRequiresTLS rejects plain-HTTP requests when the check is on.
func TestIdentityRequiresTLS(t *testing.T) {
	m := startSecMember(t, 1, transport.TLSInfo{}, secOpts{tr: func(tr *Transport) { tr.VerifyPeerIdentity = VerifyMemberURI }})
	resp, body := secDo(t, transport.TLSInfo{}, secSpoofRequest(t, m, http.MethodPost, RaftPrefix, 2, nil))
	if resp.StatusCode != http.StatusForbidden || body != identityRejectedBody+"\n" {
		t.Errorf("got %d %q, want 403", resp.StatusCode, body)
	}
}

// TestIdentityImpostorMember runs member 2 with a certificate that names
// member 3. Member 1 refuses its streams both ways, and the 403 to its
// POSTs reaches its ErrorC as "member removed".
func TestIdentityImpostorMember(t *testing.T) {
	pki := newSecPKI(t, "ca")
	verify := secOpts{tr: func(tr *Transport) { tr.VerifyPeerIdentity = VerifyMemberURI }}
	honest := startSecMember(t, 1, pki.info(t, "m1", secLeaf{cn: "m1", member: 1}), verify)
	errorc := make(chan error, 1)
	impostor := startSecMember(t, 2, pki.info(t, "m2", secLeaf{cn: "m2", member: 3}), secOpts{tr: func(tr *Transport) {
		tr.ErrorC = errorc
	}})
	honest.tr.AddPeer(2, []string{impostor.url})
	impostor.tr.AddPeer(1, []string{honest.url})
	for _, ep := range []string{endpointStream, endpointStreamDial} {
		waitFor(t, 5*time.Second, "rejections at "+ep, func() bool {
			return secMetric(t, honest.reg, "etcd_network_peer_identity_rejections_total", map[string]string{"Endpoint": ep}) > 0
		})
	}
	impostor.tr.Send([]*raftpb.Message{msg(raftpb.MsgSnap, 2, 1, 1)})
	select {
	case err := <-errorc:
		if !errors.Is(err, errMemberRemoved) {
			t.Errorf("ErrorC got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the 403 did not reach the impostor's ErrorC")
	}
	// The impostor may briefly attach the streams the honest member dials
	// and then drops; the honest member never attaches the impostor's.
	if p, ok := honest.tr.Get(2).(*peer); !ok || p.writer.isWorking() || p.msgAppV2Writer.isWorking() {
		t.Error("the honest member serves streams to the impostor")
	}
}

// secMarshal encodes m as a pipeline body.
func secMarshal(t *testing.T, m *raftpb.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secFrame encodes m as a message-stream frame (a snapshot envelope).
func secFrame(t *testing.T, m *raftpb.Message) []byte {
	t.Helper()
	b, err := appendMessageFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
