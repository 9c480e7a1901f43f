package rafthttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rafthttp/rafthttp/internal/testpki"
	"github.com/rafthttp/rafthttp/transport"
)

// failureRecorder collects what HandshakeFailure is called with.
type failureRecorder struct {
	mu   sync.Mutex
	errs []error // guarded by mu
}

func (r *failureRecorder) hook(_ *tls.Conn, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

// wait waits for a failure for which match is true.
func (r *failureRecorder) wait(t *testing.T, what string, match func(error) bool) {
	t.Helper()
	waitFor(t, 5*time.Second, "HandshakeFailure to see "+what, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.ContainsFunc(r.errs, match)
	})
}

// isErr returns a matcher for errors.Is(err, target).
func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// TestNewListenerHandshakeFailure: a client from an unknown CA reaches
// HandshakeFailure through NewListenerWithConfig, a good one is served.
func TestNewListenerHandshakeFailure(t *testing.T) {
	pki, stranger := newSecPKI(t, "ca"), newSecPKI(t, "stranger")
	rec := &failureRecorder{}
	serverInfo := pki.info(t, "server", secLeaf{cn: "server"})
	serverInfo.HandshakeFailure = rec.hook
	m := startSecMember(t, 1, serverInfo, secOpts{})
	bad := pki.info(t, "client", secLeaf{cn: "client"})
	bad.CertFile, bad.KeyFile = stranger.issue(t, "intruder", secLeaf{cn: "intruder"})
	if _, _, err := secGet(t, bad, m.url+ProbingPrefix); err == nil {
		t.Fatal("client from an unknown CA was served")
	}
	rec.wait(t, "an unknown authority", func(err error) bool {
		var unknown x509.UnknownAuthorityError
		return errors.As(err, &unknown)
	})
	if _, _, err := secGet(t, pki.info(t, "good", secLeaf{cn: "good"}), m.url+ProbingPrefix); err != nil {
		t.Fatalf("good client: %v", err)
	}
}

// TestNewListenerClientSAN: a client whose certificate names 127.0.0.1
// but which connects from 127.0.0.2 (TLSInfo.LocalAddr) is turned away,
// unless the server sets SkipClientSANVerify.
func TestNewListenerClientSAN(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(map[bool]string{false: "checked", true: "skipped"}[skip], func(t *testing.T) {
			pki := newSecPKI(t, "ca")
			rec := &failureRecorder{}
			reg := prometheus.NewRegistry()
			serverInfo := pki.info(t, "server", secLeaf{cn: "server"})
			serverInfo.HandshakeFailure, serverInfo.SkipClientSANVerify, serverInfo.Registerer = rec.hook, skip, reg
			m := startSecMember(t, 1, serverInfo, secOpts{})
			client := pki.info(t, "client", secLeaf{cn: "client"}) // IP SAN 127.0.0.1
			if _, _, err := secGet(t, client, m.url+ProbingPrefix); err != nil {
				t.Fatalf("from 127.0.0.1: %v", err)
			}
			client.LocalAddr = "127.0.0.2"
			_, _, err := secGet(t, client, m.url+ProbingPrefix)
			if skip {
				if err != nil {
					t.Fatalf("from 127.0.0.2 with the check skipped: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("from 127.0.0.2: served")
			}
			rec.wait(t, "ErrClientSANMismatch", isErr(transport.ErrClientSANMismatch))
			if n := secMetric(t, reg, "etcd_network_peer_tls_rejections_total", map[string]string{"Reason": "client-san-mismatch"}); n != 1 {
				t.Errorf("SAN rejections counted: %v, want 1", n)
			}
		})
	}
}

// TestNewListenerCRL: with CRLFile, a revoked client is refused by the
// listener and a revoked server by the client, and rewriting the file
// takes effect on the next connection, without a restart.
func TestNewListenerCRL(t *testing.T) {
	pki := newSecPKI(t, "ca")
	crl := filepath.Join(t.TempDir(), "peers.crl")
	pki.ca.WriteCRL(t, crl, testpki.PEM)
	rec, reg := &failureRecorder{}, prometheus.NewRegistry()
	serverInfo := pki.info(t, "server", secLeaf{cn: "server"})
	serverInfo.CRLFile, serverInfo.HandshakeFailure, serverInfo.Registerer = crl, rec.hook, reg
	m := startSecMember(t, 1, serverInfo, secOpts{})
	client := pki.info(t, "client", secLeaf{cn: "client"})
	client.CRLFile = crl
	get := func() error { _, _, err := secGet(t, client, m.url+ProbingPrefix); return err }

	if err := get(); err != nil {
		t.Fatalf("nothing revoked: %v", err)
	}
	pki.ca.WriteCRL(t, crl, testpki.DER, client.CertFile)
	if err := get(); err == nil {
		t.Fatal("revoked client served")
	}
	rec.wait(t, "ErrCertificateRevoked", isErr(transport.ErrCertificateRevoked))
	pki.ca.WriteCRL(t, crl, testpki.PEM)
	if err := get(); err != nil {
		t.Fatalf("client reinstated: %v", err)
	}
	pki.ca.WriteCRL(t, crl, testpki.PEM, serverInfo.CertFile)
	if err := get(); !errors.Is(err, transport.ErrCertificateRevoked) {
		t.Fatalf("revoked server: %v, want ErrCertificateRevoked", err)
	}
	if n := secMetric(t, reg, "etcd_network_peer_tls_rejections_total", map[string]string{"Reason": "client-cert-revoked"}); n != 1 {
		t.Errorf("client revocations counted: %v, want 1", n)
	}
}

// TestTransportCRL: member 1 has a CRL that lists member 2's certificate.
// Member 1's listener refuses 2's dials, and 1's own dials refuse 2's
// server certificate, counted on member 1's Registerer, which its TLSInfo
// inherits from the Transport.
func TestTransportCRL(t *testing.T) {
	pki := newSecPKI(t, "ca")
	crl := filepath.Join(t.TempDir(), "peers.crl")
	info1 := pki.info(t, "m1", secLeaf{cn: "m1"})
	info2 := pki.info(t, "m2", secLeaf{cn: "m2"})
	pki.ca.WriteCRL(t, crl, testpki.PEM, info2.CertFile)
	rec := &failureRecorder{}
	info1.CRLFile, info1.HandshakeFailure = crl, rec.hook
	a := startSecMember(t, 1, info1, secOpts{})
	b := startSecMember(t, 2, info2, secOpts{})
	a.tr.AddPeer(2, []string{b.url})
	b.tr.AddPeer(1, []string{a.url})
	rec.wait(t, "member 2's dial refused as revoked", isErr(transport.ErrCertificateRevoked))
	// Member 1's listener gets info1 without a Registerer; only its
	// Transport's dials count, as server-cert-revoked.
	waitFor(t, 5*time.Second, "member 1 to refuse member 2's certificate", func() bool {
		return secMetric(t, a.reg, "etcd_network_peer_tls_rejections_total", map[string]string{"Reason": "server-cert-revoked"}) > 0
	})
	if a.tr.Get(2).(*peer).writer.isWorking() || b.tr.Get(1).(*peer).writer.isWorking() {
		t.Error("a stream works between a member and a revoked one")
	}
}

// TestLocalAddr: Transport and NewRoundTripper dial from TLSInfo.LocalAddr.
func TestLocalAddr(t *testing.T) {
	seen := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		select {
		case seen <- host:
		default:
		}
	}))
	defer srv.Close()
	info := transport.TLSInfo{LocalAddr: "127.0.0.2"}
	if _, _, err := secGet(t, info, srv.URL); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "127.0.0.2" {
		t.Errorf("NewRoundTripper connected from %s, want 127.0.0.2", got)
	}
	tr := &Transport{ID: 1, ClusterID: 1, Raft: newRecordingRaft(), TLSInfo: info}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	tr.AddPeer(2, []string{srv.URL})
	select {
	case got := <-seen:
		if got != "127.0.0.2" {
			t.Errorf("Transport connected from %s, want 127.0.0.2", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the Transport never dialled its peer")
	}
}

func TestLocalAddrErrors(t *testing.T) {
	dial := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unused") }
	tests := []struct {
		name string
		tr   *Transport
		want error
	}{
		{name: "unresolvable", tr: &Transport{TLSInfo: transport.TLSInfo{LocalAddr: "no-such-host.invalid"}}},
		{name: "with DialContext", tr: &Transport{TLSInfo: transport.TLSInfo{LocalAddr: "127.0.0.2"}, DialContext: dial},
			want: errLocalAddrWithDialContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.tr.Raft = newRecordingRaft()
			err := tt.tr.Start()
			if err == nil {
				tt.tr.Stop()
				t.Fatal("Start succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Start: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := NewRoundTripper(transport.TLSInfo{LocalAddr: "no-such-host.invalid"}, time.Second); err == nil {
		t.Error("NewRoundTripper accepted an unresolvable LocalAddr")
	}
}
