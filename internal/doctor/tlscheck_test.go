package doctor

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/internal/testpki"
	"github.com/rafthttp/rafthttp/probing"
)

// tlsPeer serves the probing handler over TLS with a certificate from ca
// for leaf, asking for client certificates when clientAuth is set.
func tlsPeer(t *testing.T, ca *testpki.CA, leaf testpki.Leaf, clientAuth tls.ClientAuthType) *url.URL {
	t.Helper()
	certFile, keyFile := ca.Issue(t, "peer", leaf)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(probing.NewHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: clientAuth}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the test cuts short
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// handshake runs the doctor's TLS check against u with cfg.
func handshake(t *testing.T, cfg Config, u *url.URL) *TLSResult {
	t.Helper()
	s, err := loadTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, tcp := connect(context.Background(), u.Host, time.Second)
	if conn == nil {
		t.Fatal(tcp.Error)
	}
	defer conn.Close()
	_, res := s.handshakeTLS(context.Background(), conn, u.Hostname(), time.Now())
	return res
}

func TestTLSCheck(t *testing.T) {
	ca := testpki.NewCA(t, "cluster-ca")
	caFile := ca.Bundle(t, "ca.crt")
	otherFile := testpki.NewCA(t, "other-ca").Bundle(t, "other.crt")
	local := []net.IP{net.IPv4(127, 0, 0, 1)}
	clientCert, clientKey := ca.Issue(t, "client", testpki.Leaf{CN: "client"})
	for _, tc := range []struct {
		name       string
		leaf       testpki.Leaf
		cfg        Config
		clientAuth tls.ClientAuthType
		verified   bool
		verifyErr  string
		requested  bool
		sent       bool
	}{
		{name: "good", leaf: testpki.Leaf{CN: "m0", IPs: local}, cfg: Config{CACert: caFile}, verified: true},
		{name: "expired", leaf: testpki.Leaf{CN: "m0", IPs: local, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)},
			cfg: Config{CACert: caFile}, verifyErr: "certificate expired on"},
		{name: "wrong host", leaf: testpki.Leaf{CN: "m0", DNSNames: []string{"etcd-0"}}, cfg: Config{CACert: caFile},
			verifyErr: `certificate is not valid for "127.0.0.1" (it names etcd-0)`},
		{name: "server name", leaf: testpki.Leaf{CN: "m0", DNSNames: []string{"etcd-0"}}, cfg: Config{CACert: caFile, ServerName: "etcd-0"}, verified: true},
		{name: "system roots", leaf: testpki.Leaf{CN: "m0", IPs: local}, verifyErr: `signed by "CN=cluster-ca", which the system's trusted CAs do not include`},
		{name: "other CA", leaf: testpki.Leaf{CN: "m0", IPs: local}, cfg: Config{CACert: otherFile},
			verifyErr: `signed by "CN=cluster-ca", which the CA bundle does not contain`},
		{name: "client cert asked, none given", leaf: testpki.Leaf{CN: "m0", IPs: local}, cfg: Config{CACert: caFile},
			clientAuth: tls.RequestClientCert, verified: true, requested: true},
		{name: "client cert asked and sent", leaf: testpki.Leaf{CN: "m0", IPs: local}, cfg: Config{CACert: caFile, Cert: clientCert, Key: clientKey},
			clientAuth: tls.RequireAnyClientCert, verified: true, requested: true, sent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := handshake(t, tc.cfg, tlsPeer(t, ca, tc.leaf, tc.clientAuth))
			if res.HandshakeError != "" || res.Verified != tc.verified || !strings.HasPrefix(res.VerifyError, tc.verifyErr) ||
				res.ClientCertRequested != tc.requested || res.ClientCertSent != tc.sent {
				t.Fatalf("TLS result %+v", res)
			}
			if res.Version != "TLS 1.3" || res.Subject != "CN=m0" || res.Issuer != "CN=cluster-ca" || len(res.SANs) != 1 {
				t.Fatalf("description %+v", res)
			}
		})
	}
}

func TestTLSAgainstPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	res := handshake(t, Config{}, u)
	v, _ := tlsVerdict(Config{}, res)
	if v.Code != CodeTLSFailed || !strings.Contains(v.Cause, "plain HTTP") {
		t.Fatalf("verdict %+v for %+v", v, res)
	}
}

func TestLoadTLSErrors(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{CACert: dir + "/missing.pem"},
		{Cert: "only-cert.pem"},
		{Cert: dir + "/a", Key: dir + "/b"},
	} {
		if _, err := loadTLS(cfg); err == nil {
			t.Errorf("loadTLS(%+v) succeeded", cfg)
		}
	}
}
