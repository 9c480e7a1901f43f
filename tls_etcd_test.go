package rafthttp

import (
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/rafthttp/rafthttp/internal/etcdtest"
	"github.com/rafthttp/rafthttp/internal/testpki"
	"github.com/rafthttp/rafthttp/transport"
)

// TestPeerTLSParityWithEtcd runs a three-member mutual-TLS etcd cluster
// with --peer-crl-file beside a Transport served by NewListener with the
// cluster's CA and the same CRL file, and connects to every peer port with
// the same client certificates: the one the list revokes is refused by
// all, a good one is accepted by all, one that does not name the address it
// connects from is refused by all (the client SAN check), and after the
// list is rewritten on disk all follow it without a restart.
//
// The cluster's CA is made inside etcdtest.Start, after the CRL file must
// be named, so the lists are signed by a CA of the test's own. Neither
// etcd nor rafthttp checks a list's signature (the file is trusted
// configuration): both match serial numbers alone, which this also shows.
func TestPeerTLSParityWithEtcd(t *testing.T) {
	signer := testpki.NewCA(t, "crl-signer")
	crl := filepath.Join(t.TempDir(), "peers.crl")
	signer.WriteCRL(t, crl, testpki.DER) // empty until the cluster is up
	c := etcdtest.Start(t, etcdtest.Config{Members: 3, TLS: true,
		PeerTLS: func(_ int, def etcdtest.PeerTLS) etcdtest.PeerTLS { def.CRLFile = crl; return def }})

	names := testpki.Leaf{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	certs := map[string]transport.TLSInfo{}
	for _, name := range []string{"good", "revoked", "ours"} {
		cert, key := c.PKI.CA.Issue(t, "parity-"+name, names)
		certs[name] = transport.TLSInfo{CertFile: cert, KeyFile: key, TrustedCAFile: c.PKI.CAFile}
	}
	elsewhere := certs["good"]
	elsewhere.LocalAddr = "127.0.0.2" // its certificate names 127.0.0.1 and localhost only
	certs["good, from 127.0.0.2"] = elsewhere
	// DER: etcd v3.7 reads DER lists only (v3.4 takes PEM too).
	signer.WriteCRL(t, crl, testpki.DER, certs["revoked"].CertFile)

	oursInfo := certs["ours"]
	oursInfo.ClientCertAuth, oursInfo.CRLFile = true, crl
	ours := startSecMember(t, 0x99, oursInfo, secOpts{})
	servers := map[string]string{"rafthttp": ours.url}
	for _, m := range c.Members {
		servers["etcd "+m.Name] = m.PeerURL
	}

	expectAccepted(t, servers, certs, map[string]bool{"good": true, "revoked": false, "good, from 127.0.0.2": false})
	signer.WriteCRL(t, crl, testpki.DER, certs["good"].CertFile)
	expectAccepted(t, servers, certs, map[string]bool{"good": false, "revoked": true})
}

// expectAccepted connects with each client certificate to each server's
// /raft/probing and checks that it is served exactly when want says so.
func expectAccepted(t *testing.T, servers map[string]string, certs map[string]transport.TLSInfo, want map[string]bool) {
	t.Helper()
	for cert, ok := range want {
		for server, u := range servers {
			resp, _, err := secGet(t, certs[cert], u+ProbingPrefix)
			served := err == nil && resp.StatusCode == http.StatusOK
			if served != ok {
				t.Errorf("%s, certificate %q: served = %v (%v), want %v", server, cert, served, err, ok)
			}
		}
	}
}
