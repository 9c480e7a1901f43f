package transport

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

// rejections reads etcd_network_peer_tls_rejections_total{Reason=reason}.
func rejections(t *testing.T, g prometheus.Gatherer, reason string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "etcd_network_peer_tls_rejections_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "Reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// crlEnv is env with a revocation list in force on both sides.
type crlEnv struct {
	*env
	crlFile string
	reg     *prometheus.Registry
}

func newCRLEnv(t *testing.T, enc testpki.Encoding, revoke ...string) *crlEnv {
	t.Helper()
	e := &crlEnv{env: newEnv(t), reg: prometheus.NewRegistry()}
	e.build(t)
	e.crlFile = filepath.Join(t.TempDir(), "peers.crl")
	files := map[string]string{"server": e.server.CertFile, "client": e.client.CertFile}
	var certs []string
	for _, who := range revoke {
		certs = append(certs, files[who])
	}
	e.ca.WriteCRL(t, e.crlFile, enc, certs...)
	for _, info := range []*TLSInfo{&e.server, &e.client} {
		info.CRLFile, info.Registerer = e.crlFile, e.reg
	}
	return e
}

func TestCRLHandshake(t *testing.T) {
	tests := []struct {
		name       string
		enc        testpki.Encoding
		revoke     []string
		change     func(e *crlEnv)
		wantServer error // the server's handshake error must match
		wantClient error // the client's handshake error must match
		wantReason string
	}{
		{name: "nothing revoked, PEM", enc: testpki.PEM},
		{name: "nothing revoked, DER", enc: testpki.DER},
		{name: "revoked client, PEM", enc: testpki.PEM, revoke: []string{"client"},
			wantServer: ErrCertificateRevoked, wantReason: reasonClientRevoked},
		{name: "revoked client, DER", enc: testpki.DER, revoke: []string{"client"},
			wantServer: ErrCertificateRevoked, wantReason: reasonClientRevoked},
		{name: "revoked server, PEM", enc: testpki.PEM, revoke: []string{"server"},
			wantClient: ErrCertificateRevoked, wantReason: reasonServerRevoked},
		{name: "revoked server, DER", enc: testpki.DER, revoke: []string{"server"},
			wantClient: ErrCertificateRevoked, wantReason: reasonServerRevoked},
		{name: "revoked server, client skips verification", enc: testpki.PEM, revoke: []string{"server"},
			change:     func(e *crlEnv) { e.client.TrustedCAFile, e.client.InsecureSkipVerify = "", true },
			wantClient: ErrCertificateRevoked, wantReason: reasonServerRevoked},
		{name: "revoked client, server without CRL", enc: testpki.PEM, revoke: []string{"client"},
			change: func(e *crlEnv) { e.server.CRLFile = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCRLEnv(t, tt.enc, tt.revoke...)
			if tt.change != nil {
				tt.change(e)
			}
			res := handshake(t, fst(e.configs(t)), snd(e.configs(t)))
			if tt.wantServer == nil && tt.wantClient == nil && !res.ok() {
				t.Fatalf("handshake failed: server %v, client %v", res.serverErr, res.clientErr)
			}
			if tt.wantServer != nil && !errors.Is(res.serverErr, tt.wantServer) {
				t.Errorf("server error %v, want %v", res.serverErr, tt.wantServer)
			}
			if tt.wantClient != nil && !errors.Is(res.clientErr, tt.wantClient) {
				t.Errorf("client error %v, want %v", res.clientErr, tt.wantClient)
			}
			for _, reason := range []string{reasonClientRevoked, reasonServerRevoked, reasonCRLUnavailable} {
				want := 0.0
				if reason == tt.wantReason {
					want = 1
				}
				if got := rejections(t, e.reg, reason); got != want {
					t.Errorf("rejections{Reason=%q} = %v, want %v", reason, got, want)
				}
			}
		})
	}
}

// TestCRLRotation builds the configs once and then rewrites the CRL file
// between handshakes, as an operator revoking and reinstating would.
func TestCRLRotation(t *testing.T) {
	e := newCRLEnv(t, testpki.PEM)
	serverCfg, clientCfg := e.configs(t)
	other, _ := e.ca.Issue(t, "bystander", testpki.Leaf{CN: "bystander"})
	steps := []struct {
		name    string
		change  func(t *testing.T)
		wantErr error // nil: the handshake must succeed
	}{
		{name: "empty list", change: func(*testing.T) {}},
		{name: "client revoked", wantErr: ErrCertificateRevoked, change: func(t *testing.T) {
			e.ca.WriteCRL(t, e.crlFile, testpki.PEM, other, e.client.CertFile)
		}},
		{name: "client reinstated", change: func(t *testing.T) {
			e.ca.WriteCRL(t, e.crlFile, testpki.PEM, other, other)
		}},
		{name: "server revoked, now DER", wantErr: ErrCertificateRevoked, change: func(t *testing.T) {
			e.ca.WriteCRL(t, e.crlFile, testpki.DER, e.server.CertFile)
		}},
		{name: "file gone fails closed", wantErr: os.ErrNotExist, change: func(t *testing.T) {
			if err := os.Remove(e.crlFile); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "file garbled fails closed", wantErr: errNoCRL, change: func(t *testing.T) {
			if err := os.WriteFile(e.crlFile, []byte("-----BEGIN NOTHING-----\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "file restored", change: func(t *testing.T) {
			e.ca.WriteCRL(t, e.crlFile, testpki.PEM, other)
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(t)
			res := handshake(t, serverCfg, clientCfg)
			if st.wantErr == nil {
				if !res.ok() {
					t.Fatalf("handshake failed: server %v, client %v", res.serverErr, res.clientErr)
				}
				return
			}
			if res.ok() || !res.anyIs(st.wantErr) {
				t.Fatalf("server %v, client %v; want %v", res.serverErr, res.clientErr, st.wantErr)
			}
		})
	}
	if got := rejections(t, e.reg, reasonCRLUnavailable); got < 2 {
		t.Errorf("unreadable CRL counted %v times, want at least 2", got)
	}
}

// TestCRLFailureLoggedOnce: a file that cannot be used fails every
// handshake but is logged once per cause, not once per handshake.
func TestCRLFailureLoggedOnce(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	e := newCRLEnv(t, testpki.PEM)
	e.server.Logger = zap.New(core)
	e.client.CRLFile = "" // the server alone consults the file
	serverCfg, clientCfg := e.configs(t)
	runFileSteps(t, serverCfg, clientCfg, func() int { return logs.FilterMessageSnippet("cannot use CRL file").Len() }, []fileStep{
		{"gone", func() { os.Remove(e.crlFile) }, false, 1},
		{"still gone", func() {}, false, 1},
		{"garbled", func() { os.WriteFile(e.crlFile, []byte("-----BEGIN NOTHING-----\n"), 0o600) }, false, 2},
		{"still garbled", func() {}, false, 2},
		{"restored", func() { e.ca.WriteCRL(t, e.crlFile, testpki.PEM) }, true, 2},
		{"gone again", func() { os.Remove(e.crlFile) }, false, 3},
	})
}

// fileStep changes a file the server consults on every handshake, then
// expects a handshake's outcome and the failure lines logged so far.
type fileStep struct {
	name   string
	change func()
	ok     bool
	logged int
}

// runFileSteps runs steps in order; logged counts the failure lines.
func runFileSteps(t *testing.T, serverCfg, clientCfg *tls.Config, logged func() int, steps []fileStep) {
	t.Helper()
	for _, step := range steps {
		step.change()
		if res := handshake(t, serverCfg, clientCfg); res.ok() != step.ok {
			t.Fatalf("%s: handshake ok = %v (server %v), want %v", step.name, res.ok(), res.serverErr, step.ok)
		}
		if got := logged(); got != step.logged {
			t.Fatalf("%s: %d failure lines logged, want %d", step.name, got, step.logged)
		}
	}
}

func TestParseCRLs(t *testing.T) {
	ca := testpki.NewCA(t, "crl-ca")
	leaf, _ := ca.Issue(t, "leaf", testpki.Leaf{CN: "leaf"})
	dir := t.TempDir()
	read := func(enc testpki.Encoding, revoke ...string) []byte {
		path := filepath.Join(dir, "list")
		ca.WriteCRL(t, path, enc, revoke...)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	pemList, derList, emptyPEM := read(testpki.PEM, leaf), read(testpki.DER, leaf), read(testpki.PEM)
	certPEM, err := os.ReadFile(leaf)
	if err != nil {
		t.Fatal(err)
	}
	concat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name        string
		data        []byte
		wantLists   int
		wantRevoked int
		wantErr     bool
	}{
		{name: "PEM", data: pemList, wantLists: 1, wantRevoked: 1},
		{name: "DER", data: derList, wantLists: 1, wantRevoked: 1},
		{name: "two PEM lists", data: concat(pemList, emptyPEM), wantLists: 2, wantRevoked: 1},
		{name: "certificate blocks skipped", data: concat(certPEM, pemList), wantLists: 1, wantRevoked: 1},
		{name: "only a certificate", data: certPEM, wantErr: true},
		{name: "empty", data: nil, wantErr: true},
		{name: "truncated DER", data: derList[:len(derList)/2], wantErr: true},
		{name: "PEM with bad body", data: concat(pemList, []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lists, err := parseCRLs(tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if len(lists) != tt.wantLists {
				t.Errorf("%d lists, want %d", len(lists), tt.wantLists)
			}
			if got := len(newRevokedSet(lists)); got != tt.wantRevoked {
				t.Errorf("%d revoked serials, want %d", got, tt.wantRevoked)
			}
		})
	}
}
