package transport

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

func TestConfigErrors(t *testing.T) {
	e := newEnv(t)
	e.build(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("no PEM here"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cnCert, cnKey := e.client.CertFile, e.client.KeyFile
	noCNCert, noCNKey := e.ca.Issue(t, "nocn", testpki.Leaf{DNSNames: []string{"node1.example"}})

	tests := []struct {
		name       string
		info       func() TLSInfo
		serverErr  error // nil: ServerConfig must succeed
		clientErr  error // nil: ClientConfig must succeed
		anyErrOnly bool  // errors need not match a sentinel, only be non-nil
	}{
		{name: "missing CRL file", info: func() TLSInfo { i := e.server; i.CRLFile = missing; return i },
			serverErr: os.ErrNotExist, clientErr: os.ErrNotExist},
		{name: "CRL file without a list", info: func() TLSInfo { i := e.server; i.CRLFile = garbage; return i },
			serverErr: errAny, clientErr: errAny, anyErrOnly: true},
		{name: "cert without key", info: func() TLSInfo { i := e.server; i.KeyFile = ""; return i },
			serverErr: errNoKeyPair, clientErr: errNoKeyPair},
		{name: "empty server", info: func() TLSInfo { return TLSInfo{} }, serverErr: errNoKeyPair},
		{name: "half client pair", info: func() TLSInfo { i := e.client; i.ClientCertFile = "c.pem"; return i },
			serverErr: errHalfClientPair, clientErr: errHalfClientPair},
		{name: "AllowedCN with AllowedCNs", info: func() TLSInfo { i := e.server; i.AllowedCN, i.AllowedCNs = "a", []string{"b"}; return i },
			serverErr: errAllowedConflict, clientErr: errAllowedConflict},
		{name: "AllowedCNs with AllowedHostnames", info: func() TLSInfo {
			i := e.server
			i.AllowedCNs, i.AllowedHostnames = []string{"a"}, []string{"b"}
			return i
		}, serverErr: errAllowedConflict, clientErr: errAllowedConflict},
		{name: "AllowedCN with AllowedHostname", info: func() TLSInfo { i := e.server; i.AllowedCN, i.AllowedHostname = "a", "b"; return i },
			serverErr: errAllowedConflict, clientErr: errAllowedConflict},
		{name: "allowed CNs without client auth", info: func() TLSInfo {
			i := e.server
			i.ClientCertAuth, i.TrustedCAFile, i.AllowedCNs = false, "", []string{"a"}
			return i
		}, serverErr: errAllowedNoAuth},
		{name: "missing cert file", info: func() TLSInfo { i := e.server; i.CertFile = missing; return i },
			serverErr: os.ErrNotExist, clientErr: os.ErrNotExist},
		{name: "missing client cert file", info: func() TLSInfo { i := e.client; i.ClientCertFile, i.ClientKeyFile = missing, missing; return i },
			clientErr: os.ErrNotExist},
		{name: "key does not match cert", info: func() TLSInfo { i := e.server; i.KeyFile = e.client.KeyFile; return i },
			serverErr: errAny, clientErr: errAny, anyErrOnly: true},
		{name: "CA file without certificates", info: func() TLSInfo { i := e.server; i.TrustedCAFile = garbage; return i },
			serverErr: errNoCACerts, clientErr: errNoCACerts},
		{name: "missing CA file", info: func() TLSInfo { i := e.server; i.TrustedCAFile = missing; return i },
			serverErr: os.ErrNotExist, clientErr: os.ErrNotExist},
		{name: "EmptyCN with a CN", info: func() TLSInfo { i := e.client; i.CertFile, i.KeyFile, i.EmptyCN = cnCert, cnKey, true; return i },
			serverErr: nil, clientErr: ErrNonEmptyCN},
		{name: "EmptyCN without a CN", info: func() TLSInfo { i := e.server; i.CertFile, i.KeyFile, i.EmptyCN = noCNCert, noCNKey, true; return i }},
		{name: "empty client", info: func() TLSInfo { return TLSInfo{} }, serverErr: errNoKeyPair},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := tt.info()
			_, serr := info.ServerConfig()
			_, cerr := info.ClientConfig()
			checkConfigErr(t, "ServerConfig", serr, tt.serverErr, tt.anyErrOnly)
			checkConfigErr(t, "ClientConfig", cerr, tt.clientErr, tt.anyErrOnly)
		})
	}
}

// errAny stands for "some error" in TestConfigErrors.
var errAny = errors.New("any error")

func checkConfigErr(t *testing.T, what string, got, want error, anyErr bool) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s: unexpected error %v", what, got)
	case want != nil && got == nil:
		t.Errorf("%s: succeeded, want %v", what, want)
	case want != nil && !anyErr && !errors.Is(got, want):
		t.Errorf("%s: error %v, want %v", what, got, want)
	}
}

func TestConfigFields(t *testing.T) {
	e := newEnv(t)
	e.build(t)
	suites := []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	tests := []struct {
		name    string
		change  func(i *TLSInfo)
		checkFn func(t *testing.T, server, client *tls.Config)
	}{
		{name: "defaults", change: func(*TLSInfo) {}, checkFn: func(t *testing.T, s, c *tls.Config) {
			for _, cfg := range []*tls.Config{s, c} {
				if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != 0 || cfg.CipherSuites != nil {
					t.Errorf("min %x max %x suites %v", cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites)
				}
			}
			if s.ClientAuth != tls.RequireAnyClientCert || s.VerifyConnection == nil || s.GetCertificate == nil {
				t.Errorf("server lacks client verification or certificate hook")
			}
			if !slices.Equal(s.NextProtos, []string{"h2"}) {
				t.Errorf("server NextProtos = %v", s.NextProtos)
			}
			if !c.InsecureSkipVerify || c.VerifyConnection == nil || c.GetClientCertificate == nil || c.ServerName != "localhost" {
				t.Errorf("client config not set up for reloadable verification: %+v", c)
			}
		}},
		{name: "versions and suites", change: func(i *TLSInfo) {
			i.MinVersion, i.MaxVersion, i.CipherSuites = tls.VersionTLS13, tls.VersionTLS13, suites
		}, checkFn: func(t *testing.T, s, c *tls.Config) {
			for _, cfg := range []*tls.Config{s, c} {
				if cfg.MinVersion != tls.VersionTLS13 || cfg.MaxVersion != tls.VersionTLS13 || !slices.Equal(cfg.CipherSuites, suites) {
					t.Errorf("min %x max %x suites %v", cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites)
				}
			}
			suites[0] = 0
			if s.CipherSuites[0] == 0 {
				t.Errorf("config shares the caller's CipherSuites slice")
			}
		}},
		{name: "no client auth", change: func(i *TLSInfo) {
			i.ClientCertAuth, i.TrustedCAFile = false, ""
		}, checkFn: func(t *testing.T, s, c *tls.Config) {
			if s.ClientAuth != tls.NoClientCert || s.VerifyConnection != nil {
				t.Errorf("server ClientAuth %v", s.ClientAuth)
			}
			if c.InsecureSkipVerify || c.VerifyConnection != nil {
				t.Errorf("client without CA file should use crypto/tls verification")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cli := e.server, e.client
			tt.change(&srv)
			tt.change(&cli)
			s, err := srv.ServerConfig()
			if err != nil {
				t.Fatal(err)
			}
			c, err := cli.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			tt.checkFn(t, s, c)
		})
	}
}

func TestEmptyCNOnHandshake(t *testing.T) {
	e := newEnv(t)
	e.clientSpec.CN = ""
	e.build(t)
	e.client.EmptyCN = true
	serverCfg, clientCfg := e.configs(t)
	if res := handshake(t, serverCfg, clientCfg); !res.ok() {
		t.Fatalf("empty-CN handshake failed: %v / %v", res.serverErr, res.clientErr)
	}
	c, k := e.ca.Issue(t, "named", testpki.Leaf{CN: "has-a-name"})
	testpki.CopyFile(t, c, e.client.CertFile)
	testpki.CopyFile(t, k, e.client.KeyFile)
	if res := handshake(t, serverCfg, clientCfg); !errors.Is(res.clientErr, ErrNonEmptyCN) {
		t.Errorf("rotated-in CN: client error %v, want ErrNonEmptyCN", res.clientErr)
	}
}

func TestTLSInfoStringAndEmpty(t *testing.T) {
	tests := []struct {
		name      string
		info      TLSInfo
		wantEmpty bool
		wantParts []string
	}{
		{name: "zero", info: TLSInfo{}, wantEmpty: true, wantParts: []string{"cert = ,", "client-cert-auth = false"}},
		{name: "cert only", info: TLSInfo{CertFile: "a.crt"}, wantParts: []string{"cert = a.crt"}},
		{name: "key only", info: TLSInfo{KeyFile: "a.key"}, wantParts: []string{"key = a.key"}},
		{name: "client files only", info: TLSInfo{ClientCertFile: "c.crt", ClientKeyFile: "c.key"}, wantEmpty: true,
			wantParts: []string{"client-cert=c.crt", "client-key=c.key"}},
		{name: "all", info: TLSInfo{CertFile: "a", KeyFile: "b", TrustedCAFile: "ca", ClientCertAuth: true, CRLFile: "crl"},
			wantParts: []string{"trusted-ca = ca", "client-cert-auth = true", "crl-file = crl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.info.Empty(); got != tt.wantEmpty {
				t.Errorf("Empty() = %v, want %v", got, tt.wantEmpty)
			}
			s := tt.info.String()
			for _, part := range tt.wantParts {
				if !strings.Contains(s, part) {
					t.Errorf("String() = %q, lacks %q", s, part)
				}
			}
		})
	}
}
