package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

// result is what each side of one test handshake saw.
type result struct {
	serverErr, clientErr error
	serverSawCN          string // client certificate CN seen by the server
	clientSawCN          string // server certificate CN seen by the client
}

func (r result) ok() bool { return r.serverErr == nil && r.clientErr == nil }

// anyIs reports whether either side's error matches target.
func (r result) anyIs(target error) bool {
	return errors.Is(r.serverErr, target) || errors.Is(r.clientErr, target)
}

// handshake runs a TLS handshake over loopback TCP plus a two-byte
// exchange, so that a client certificate rejected after the TLS 1.3 client
// finished is still seen by the client. (net.Pipe has no buffering, so a
// side that aborts mid-flight would block on its alert until the deadline.)
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) result {
	t.Helper()
	sc, cc := tcpPair(t)
	deadline := time.Now().Add(10 * time.Second)
	_ = sc.SetDeadline(deadline)
	_ = cc.SetDeadline(deadline)

	type serverOut struct {
		err error
		cn  string
	}
	done := make(chan serverOut, 1)
	go func() {
		defer sc.Close()
		s := tls.Server(sc, serverCfg)
		if err := s.Handshake(); err != nil {
			done <- serverOut{err: err}
			return
		}
		var out serverOut
		if peers := s.ConnectionState().PeerCertificates; len(peers) > 0 {
			out.cn = peers[0].Subject.CommonName
		}
		_, out.err = s.Write([]byte("ok"))
		done <- out
	}()

	var res result
	c := tls.Client(cc, clientCfg)
	res.clientErr = c.Handshake()
	if res.clientErr == nil {
		res.clientSawCN = c.ConnectionState().PeerCertificates[0].Subject.CommonName
		_, res.clientErr = io.ReadFull(c, make([]byte, 2))
	}
	cc.Close()
	out := <-done
	res.serverErr, res.serverSawCN = out.err, out.cn
	return res
}

// tcpPair returns both ends of a fresh loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	return server, client
}

// env is a CA with a server and a client certificate, and the TLSInfo each
// side would use for mutual TLS.
type env struct {
	ca, other  *testpki.CA
	caFile     string
	server     TLSInfo
	client     TLSInfo
	dialName   string // ServerName a dialer would set on its config copy
	serverSpec testpki.Leaf
	clientSpec testpki.Leaf
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{ca: testpki.NewCA(t, "test-ca"), other: testpki.NewCA(t, "other-ca")}
	e.caFile = e.ca.Bundle(t, "ca.pem")
	e.serverSpec = testpki.Leaf{CN: "server", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}
	e.clientSpec = testpki.Leaf{CN: "client", DNSNames: []string{"node1.example"}}
	return e
}

// build issues the certificates and fills in the TLSInfos; setup functions
// may change specs before and infos after.
func (e *env) build(t *testing.T) {
	t.Helper()
	sCert, sKey := e.ca.Issue(t, "server", e.serverSpec)
	cCert, cKey := e.ca.Issue(t, "client", e.clientSpec)
	e.server = TLSInfo{CertFile: sCert, KeyFile: sKey, TrustedCAFile: e.caFile, ClientCertAuth: true}
	e.client = TLSInfo{CertFile: cCert, KeyFile: cKey, TrustedCAFile: e.caFile, ServerName: "localhost"}
}

// configs builds both sides' configs, applying dialName as a dialer would.
func (e *env) configs(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	sc, err := e.server.ServerConfig()
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	cc, err := e.client.ClientConfig()
	if err != nil {
		t.Fatalf("ClientConfig: %v", err)
	}
	if e.dialName != "" && cc.ServerName == "" {
		cc = cc.Clone()
		cc.ServerName = e.dialName
	}
	return sc, cc
}

func TestHandshake(t *testing.T) {
	past := time.Now().Add(-48 * time.Hour)
	tests := []struct {
		name    string
		before  func(t *testing.T, e *env) // before certificates are issued
		after   func(t *testing.T, e *env) // after the TLSInfos are filled in
		wantOK  bool
		wantErr error // must match one side's error when set
		wantAs  any   // an errors.As target one side's error must match
	}{
		{name: "mutual TLS", wantOK: true},
		{name: "TLS 1.2 only", wantOK: true, after: func(t *testing.T, e *env) {
			e.client.MaxVersion = tls.VersionTLS12
		}},
		{name: "client cert from unknown CA", wantAs: new(x509.UnknownAuthorityError), after: func(t *testing.T, e *env) {
			e.client.CertFile, e.client.KeyFile = e.other.Issue(t, "stranger", testpki.Leaf{CN: "client"})
		}},
		{name: "server cert from unknown CA", wantAs: new(x509.UnknownAuthorityError), after: func(t *testing.T, e *env) {
			e.server.CertFile, e.server.KeyFile = e.other.Issue(t, "stranger", e.serverSpec)
		}},
		{name: "insecure client accepts unknown CA", wantOK: true, after: func(t *testing.T, e *env) {
			e.server.CertFile, e.server.KeyFile = e.other.Issue(t, "stranger", e.serverSpec)
			e.client.InsecureSkipVerify = true
		}},
		{name: "expired server cert", wantAs: new(x509.CertificateInvalidError), before: func(t *testing.T, e *env) {
			e.serverSpec.NotBefore, e.serverSpec.NotAfter = past, past.Add(time.Hour)
		}},
		{name: "expired client cert", wantAs: new(x509.CertificateInvalidError), before: func(t *testing.T, e *env) {
			e.clientSpec.NotBefore, e.clientSpec.NotAfter = past, past.Add(time.Hour)
		}},
		{name: "client cert without client auth usage", wantAs: new(x509.CertificateInvalidError), before: func(t *testing.T, e *env) {
			e.clientSpec.Usages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}},
		{name: "server name mismatch", wantAs: new(x509.HostnameError), after: func(t *testing.T, e *env) {
			e.client.ServerName = "elsewhere.example"
		}},
		{name: "IP server name from config", wantOK: true, after: func(t *testing.T, e *env) {
			e.client.ServerName = "127.0.0.1"
		}},
		{name: "DNS name from dialer", wantOK: true, after: func(t *testing.T, e *env) {
			e.client.ServerName, e.dialName = "", "localhost"
		}},
		{name: "IP from dialer needs ServerName", wantErr: ErrNoServerName, after: func(t *testing.T, e *env) {
			e.client.ServerName, e.dialName = "", "127.0.0.1"
		}},
		{name: "client without cert rejected", after: func(t *testing.T, e *env) {
			e.client.CertFile, e.client.KeyFile = "", ""
		}},
		{name: "no client auth, no client cert", wantOK: true, after: func(t *testing.T, e *env) {
			e.server.ClientCertAuth, e.server.TrustedCAFile = false, ""
			e.client.CertFile, e.client.KeyFile = "", ""
		}},
		{name: "client auth against system roots", wantAs: new(x509.UnknownAuthorityError), after: func(t *testing.T, e *env) {
			e.server.TrustedCAFile = ""
		}},
		{name: "client on system roots rejects test CA", wantAs: new(x509.UnknownAuthorityError), after: func(t *testing.T, e *env) {
			e.client.TrustedCAFile = ""
		}},
		{name: "separate client key pair", wantOK: true, after: func(t *testing.T, e *env) {
			e.client.ClientCertFile, e.client.ClientKeyFile = e.client.CertFile, e.client.KeyFile
			e.client.CertFile, e.client.KeyFile = e.server.CertFile, e.server.KeyFile
		}},
		{name: "AllowedCNs match", wantOK: true, after: func(t *testing.T, e *env) {
			e.server.AllowedCNs = []string{"other", "client"}
		}},
		{name: "AllowedCNs mismatch", wantErr: ErrPeerNotAllowed, after: func(t *testing.T, e *env) {
			e.server.AllowedCNs = []string{"peer-1", "peer-2"}
		}},
		{name: "AllowedCN mismatch", wantErr: ErrPeerNotAllowed, after: func(t *testing.T, e *env) {
			e.server.AllowedCN = "peer-1"
		}},
		{name: "AllowedHostnames match", wantOK: true, after: func(t *testing.T, e *env) {
			e.server.AllowedHostnames = []string{"node1.example"}
		}},
		{name: "AllowedHostname mismatch", wantErr: ErrPeerNotAllowed, after: func(t *testing.T, e *env) {
			e.server.AllowedHostname = "node2.example"
		}},
		{name: "client checks server CN", wantErr: ErrPeerNotAllowed, after: func(t *testing.T, e *env) {
			e.client.AllowedCNs = []string{"not-the-server"}
		}},
		{name: "client checks server CN without CA file", wantErr: ErrPeerNotAllowed, after: func(t *testing.T, e *env) {
			e.client.TrustedCAFile, e.client.InsecureSkipVerify = "", true
			e.client.AllowedCNs = []string{"not-the-server"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.before != nil {
				tt.before(t, e)
			}
			e.build(t)
			if tt.after != nil {
				tt.after(t, e)
			}
			res := handshake(t, fst(e.configs(t)), snd(e.configs(t)))
			t.Logf("server: %v; client: %v", res.serverErr, res.clientErr)
			if res.ok() != tt.wantOK {
				t.Fatalf("handshake ok = %v, want %v (server: %v; client: %v)", res.ok(), tt.wantOK, res.serverErr, res.clientErr)
			}
			if tt.wantErr != nil && !res.anyIs(tt.wantErr) {
				t.Errorf("errors (server: %v; client: %v), want %v", res.serverErr, res.clientErr, tt.wantErr)
			}
			if tt.wantAs != nil && !errors.As(res.serverErr, tt.wantAs) && !errors.As(res.clientErr, tt.wantAs) {
				t.Errorf("errors (server: %v; client: %v), want a %T", res.serverErr, res.clientErr, tt.wantAs)
			}
		})
	}
}

func fst[A, B any](a A, _ B) A { return a }
func snd[A, B any](_ A, b B) B { return b }
