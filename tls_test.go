package rafthttp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/internal/testpki"
	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/transport"
	"github.com/rafthttp/rafthttp/types"
)

// secPKI is a throw-away certificate authority with its CA bundle
// written as caFile.
type secPKI struct {
	ca     *testpki.CA
	caFile string
}

// secLeaf describes a certificate to issue. member 0 puts no member URI
// in it; zero times mean "valid from an hour ago for a day"; nil ips mean
// 127.0.0.1.
type secLeaf struct {
	cn        string
	member    types.ID
	ips       []net.IP
	notBefore time.Time
	notAfter  time.Time
}

func newSecPKI(t *testing.T, name string) *secPKI {
	t.Helper()
	ca := testpki.NewCA(t, name)
	return &secPKI{ca: ca, caFile: ca.Bundle(t, "ca.pem")}
}

// issue signs a leaf for server and client use, for localhost and l's
// addresses, and writes it as <name>.crt and <name>.key.
func (p *secPKI) issue(t *testing.T, name string, l secLeaf) (certFile, keyFile string) {
	t.Helper()
	if l.ips == nil {
		l.ips = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	leaf := testpki.Leaf{CN: l.cn, IPs: l.ips, DNSNames: []string{"localhost"},
		NotBefore: l.notBefore, NotAfter: l.notAfter}
	if l.member != 0 {
		leaf.URIs = []*url.URL{MemberURI(l.member)}
	}
	return p.ca.Issue(t, name, leaf)
}

// info returns mutual-TLS settings for a certificate issued from l. There
// is no ServerName: peers are dialled by IP address.
func (p *secPKI) info(t *testing.T, name string, l secLeaf) transport.TLSInfo {
	t.Helper()
	cert, key := p.issue(t, name, l)
	return transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: p.caFile, ClientCertAuth: true}
}

// secMember is a started Transport served over a real listener built with
// NewListenerWithConfig and NewServer.
type secMember struct {
	tr   *Transport
	raft *recordingRaft
	url  string
	reg  *prometheus.Registry
	srv  *http.Server
}

// secOpts adjusts a member before it starts: its Transport, its listener
// and its server. Zero fields change nothing.
type secOpts struct {
	tr       func(*Transport)
	listener ListenerConfig
	server   func(*http.Server)
}

// startSecMember starts member id with info on 127.0.0.1; https when info
// has a key pair.
func startSecMember(t *testing.T, id types.ID, info transport.TLSInfo, o secOpts) *secMember {
	t.Helper()
	r := newRecordingRaft()
	reg := prometheus.NewRegistry()
	tr := &Transport{ID: id, ClusterID: 0xc1, Raft: r, TLSInfo: info, Registerer: reg,
		Snapshotter: snap.New(nil, t.TempDir())}
	if o.tr != nil {
		o.tr(tr)
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if !info.Empty() {
		scheme = "https"
	}
	ln, err := NewListenerWithConfig(url.URL{Scheme: scheme, Host: "127.0.0.1:0"}, &info, o.listener)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(tr.Handler())
	srv.ErrorLog = secDiscardLog()
	if o.server != nil {
		o.server(srv)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		tr.Stop()
		_ = srv.Close()
		<-served
	})
	return &secMember{tr: tr, raft: r, url: scheme + "://" + ln.Addr().String(), reg: reg, srv: srv}
}

// secConnect makes a and b peers of each other and waits for all streams.
func secConnect(t *testing.T, a, b *secMember) {
	t.Helper()
	a.tr.AddPeer(b.tr.ID, []string{b.url})
	b.tr.AddPeer(a.tr.ID, []string{a.url})
	for _, m := range []struct {
		tr   *Transport
		peer types.ID
	}{{a.tr, b.tr.ID}, {b.tr, a.tr.ID}} {
		waitFor(t, 5*time.Second, "streams to work", func() bool {
			p, ok := m.tr.Get(m.peer).(*peer)
			return ok && p.writer.isWorking() && p.msgAppV2Writer.isWorking()
		})
	}
}

// secExchange sends a heartbeat each way and waits for both.
func secExchange(t *testing.T, a, b *secMember, term uint64) {
	t.Helper()
	a.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, uint64(a.tr.ID), uint64(b.tr.ID), term)})
	b.tr.Send([]*raftpb.Message{msg(raftpb.MsgHeartbeat, uint64(b.tr.ID), uint64(a.tr.ID), term)})
	secReceive(t, b.raft, raftpb.MsgHeartbeat, term)
	secReceive(t, a.raft, raftpb.MsgHeartbeat, term)
}

// secReceive waits for a message of typ and term, skipping others.
func secReceive(t *testing.T, r *recordingRaft, typ raftpb.MessageType, term uint64) *raftpb.Message {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-r.recvc:
			if m.GetType() == typ && m.GetTerm() == term {
				return m
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %v at term %d", typ, term)
			return nil
		}
	}
}

// secMetric sums the samples of a counter or gauge family whose labels
// include want.
func secMetric(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if secLabelsInclude(labels, want) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

func secLabelsInclude(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// secGet fetches u through a fresh round tripper built by NewRoundTripper
// from info and returns the response with its body read.
func secGet(t *testing.T, info transport.TLSInfo, u string) (*http.Response, string, error) {
	t.Helper()
	rt, err := NewRoundTripper(info, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer closeIdle(rt)
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// TestTLSMutualCluster runs two members over mutual TLS with member
// identity on, dialled by IP address without ServerName: streams,
// pipeline and a snapshot all work.
func TestTLSMutualCluster(t *testing.T) {
	pki := newSecPKI(t, "ca")
	verify := secOpts{tr: func(tr *Transport) { tr.VerifyPeerIdentity = VerifyMemberURI }}
	a := startSecMember(t, 1, pki.info(t, "a", secLeaf{cn: "a", member: 1}), verify)
	b := startSecMember(t, 2, pki.info(t, "b", secLeaf{cn: "b", member: 2}), verify)
	if !strings.HasPrefix(a.url, "https://127.0.0.1:") {
		t.Fatalf("member URL %s is not https to an IP", a.url)
	}
	secConnect(t, a, b)
	secExchange(t, a, b, 1)

	// A pipeline message: MsgSnap always takes the pipeline.
	m := msg(raftpb.MsgSnap, 1, 2, 2)
	m.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(1), Term: proto.Uint64(1)}}
	a.tr.Send([]*raftpb.Message{m})
	secReceive(t, b.raft, raftpb.MsgSnap, 2)

	// A snapshot with DB bytes.
	sm := snap.NewMessage(msg(raftpb.MsgSnap, 1, 2, 3), io.NopCloser(strings.NewReader("db")), 2)
	sm.Snapshot = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(7), Term: proto.Uint64(3)}}
	a.tr.SendSnapshot(sm)
	select {
	case ok := <-sm.CloseNotify():
		if !ok {
			t.Fatal("snapshot over TLS failed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("snapshot over TLS timed out")
	}
	secReceive(t, b.raft, raftpb.MsgSnap, 3)
	for _, mem := range []*secMember{a, b} {
		if got := secMetric(t, mem.reg, "etcd_network_peer_identity_rejections_total", nil); got != 0 {
			t.Errorf("member %s rejected %v requests", mem.tr.ID, got)
		}
	}
}

// TestTLSRejects checks that the handshake fails for each way a client or
// server certificate can be wrong.
func TestTLSRejects(t *testing.T) {
	pki, stranger := newSecPKI(t, "ca"), newSecPKI(t, "stranger")
	past := time.Now().Add(-48 * time.Hour)
	tests := []struct {
		name   string
		server func(*transport.TLSInfo) // changes the server's settings
		client func(*transport.TLSInfo) // changes the client's settings
		wantAs any                      // error type the client must see, if any
	}{
		{name: "client cert from unknown CA", client: func(i *transport.TLSInfo) {
			i.CertFile, i.KeyFile = stranger.issue(t, "c1", secLeaf{cn: "client"})
		}},
		{name: "server cert from unknown CA", wantAs: new(x509.UnknownAuthorityError), server: func(i *transport.TLSInfo) {
			i.CertFile, i.KeyFile = stranger.issue(t, "s1", secLeaf{cn: "server"})
		}},
		{name: "client CN not allowed", server: func(i *transport.TLSInfo) { i.AllowedCNs = []string{"member"} },
			client: func(i *transport.TLSInfo) { i.CertFile, i.KeyFile = pki.issue(t, "c2", secLeaf{cn: "intruder"}) }},
		{name: "client hostname not allowed", server: func(i *transport.TLSInfo) { i.AllowedHostnames = []string{"member.example"} }},
		{name: "server certificate lacks the dialled IP", wantAs: new(x509.HostnameError), server: func(i *transport.TLSInfo) {
			i.CertFile, i.KeyFile = pki.issue(t, "s2", secLeaf{cn: "server", ips: []net.IP{net.IPv4(10, 0, 0, 1)}})
		}},
		{name: "server name mismatch", wantAs: new(x509.HostnameError), client: func(i *transport.TLSInfo) { i.ServerName = "other.example" }},
		{name: "expired client cert", client: func(i *transport.TLSInfo) {
			i.CertFile, i.KeyFile = pki.issue(t, "c3", secLeaf{cn: "client", notBefore: past, notAfter: past.Add(time.Hour)})
		}},
		{name: "expired server cert", wantAs: new(x509.CertificateInvalidError), server: func(i *transport.TLSInfo) {
			i.CertFile, i.KeyFile = pki.issue(t, "s3", secLeaf{cn: "server", notBefore: past, notAfter: past.Add(time.Hour)})
		}},
		{name: "TLS 1.2 client against TLS 1.3 server", server: func(i *transport.TLSInfo) { i.MinVersion = tls.VersionTLS13 },
			client: func(i *transport.TLSInfo) { i.MaxVersion = tls.VersionTLS12 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			serverInfo, clientInfo := pki.info(t, "server", secLeaf{cn: "server"}), pki.info(t, "client", secLeaf{cn: "client"})
			if tt.server != nil {
				tt.server(&serverInfo)
			}
			if tt.client != nil {
				tt.client(&clientInfo)
			}
			m := startSecMember(t, 1, serverInfo, secOpts{})
			resp, body, err := secGet(t, clientInfo, m.url+ProbingPrefix)
			if err == nil {
				t.Fatalf("request succeeded: %d %q", resp.StatusCode, body)
			}
			if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
				t.Errorf("err = %v, want a %T", err, tt.wantAs)
			}
		})
	}
}

// TestTLSRotation replaces certificate files under running members: new
// connections present the new certificates, without a restart.
func TestTLSRotation(t *testing.T) {
	pki := newSecPKI(t, "ca")
	serverInfo := pki.info(t, "server", secLeaf{cn: "server-1"})
	clientInfo := pki.info(t, "client", secLeaf{cn: "client-1"})
	m := startSecMember(t, 1, serverInfo, secOpts{})
	probe := func() (string, error) {
		resp, _, err := secGet(t, clientInfo, m.url+ProbingPrefix)
		if err != nil {
			return "", err
		}
		return resp.TLS.PeerCertificates[0].Subject.CommonName, nil
	}
	if cn, err := probe(); err != nil || cn != "server-1" {
		t.Fatalf("before rotation: %q, %v", cn, err)
	}
	secReplace(t, pki, serverInfo, secLeaf{cn: "server-2"})
	if cn, err := probe(); err != nil || cn != "server-2" {
		t.Fatalf("after server rotation: %q, %v; want server-2", cn, err)
	}
	past := time.Now().Add(-48 * time.Hour)
	secReplace(t, pki, clientInfo, secLeaf{cn: "client-2", notBefore: past, notAfter: past.Add(time.Hour)})
	if _, err := probe(); err == nil {
		t.Fatal("an expired client certificate was accepted after rotation")
	}
	secReplace(t, pki, clientInfo, secLeaf{cn: "client-3"})
	if _, err := probe(); err != nil {
		t.Fatalf("after client rotation: %v", err)
	}
	// A new CA: the server's trusted bundle and both certificates change.
	next := newSecPKI(t, "next-ca")
	secReplace(t, next, serverInfo, secLeaf{cn: "server-3"})
	secReplace(t, next, clientInfo, secLeaf{cn: "client-4"})
	testpki.CopyFile(t, next.caFile, pki.caFile)
	if cn, err := probe(); err != nil || cn != "server-3" {
		t.Fatalf("after CA rotation: %q, %v; want server-3", cn, err)
	}
}

// secReplace issues l from p and copies it over info's key pair.
func secReplace(t *testing.T, p *secPKI, info transport.TLSInfo, l secLeaf) {
	t.Helper()
	cert, key := p.issue(t, "rotated-"+l.cn, l)
	testpki.CopyFile(t, cert, info.CertFile)
	testpki.CopyFile(t, key, info.KeyFile)
}

// secDiscardLog silences http.Server's log of failed handshakes, which
// these tests cause on purpose.
func secDiscardLog() *log.Logger { return log.New(io.Discard, "", 0) }
