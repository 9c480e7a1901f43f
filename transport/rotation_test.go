package transport

import (
	"errors"
	"os"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

// TestRotation builds each config once and then replaces files on disk
// between handshakes, as an operator rotating certificates would.
func TestRotation(t *testing.T) {
	e := newEnv(t)
	e.build(t)
	core, logs := observer.New(zap.WarnLevel)
	e.server.Logger = zap.New(core)
	e.client.Logger = zap.New(core)
	serverCfg, clientCfg := e.configs(t)
	run := func(t *testing.T) result {
		t.Helper()
		return handshake(t, serverCfg, clientCfg)
	}
	ca2 := testpki.NewCA(t, "next-ca")

	steps := []struct {
		name       string
		change     func(t *testing.T)
		wantOK     bool
		wantServer string // server CN the client must see
		wantClient string // client CN the server must see
	}{
		{name: "initial", change: func(*testing.T) {}, wantOK: true, wantServer: "server", wantClient: "client"},
		{name: "server leaf rotated", wantOK: true, wantServer: "server-b", wantClient: "client", change: func(t *testing.T) {
			c, k := e.ca.Issue(t, "server-b", testpki.Leaf{CN: "server-b", DNSNames: []string{"localhost"}})
			testpki.CopyFile(t, c, e.server.CertFile)
			testpki.CopyFile(t, k, e.server.KeyFile)
		}},
		{name: "client leaf rotated", wantOK: true, wantServer: "server-b", wantClient: "client-b", change: func(t *testing.T) {
			c, k := e.ca.Issue(t, "client-b", testpki.Leaf{CN: "client-b"})
			testpki.CopyFile(t, c, e.client.CertFile)
			testpki.CopyFile(t, k, e.client.KeyFile)
		}},
		{name: "server cert file missing fails handshake", change: func(t *testing.T) {
			if err := os.Rename(e.server.CertFile, e.server.CertFile+".away"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "server cert file restored", wantOK: true, wantServer: "server-b", wantClient: "client-b", change: func(t *testing.T) {
			if err := os.Rename(e.server.CertFile+".away", e.server.CertFile); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "CA rotated, old leaves rejected", change: func(t *testing.T) {
			ca2.WriteCert(t, e.caFile)
		}},
		{name: "CA rotated, new leaves accepted", wantOK: true, wantServer: "server-c", wantClient: "client-c", change: func(t *testing.T) {
			c, k := ca2.Issue(t, "server-c", testpki.Leaf{CN: "server-c", DNSNames: []string{"localhost"}})
			testpki.CopyFile(t, c, e.server.CertFile)
			testpki.CopyFile(t, k, e.server.KeyFile)
			c, k = ca2.Issue(t, "client-c", testpki.Leaf{CN: "client-c"})
			testpki.CopyFile(t, c, e.client.CertFile)
			testpki.CopyFile(t, k, e.client.KeyFile)
		}},
		{name: "CA file unreadable fails handshake", change: func(t *testing.T) {
			if err := os.WriteFile(e.caFile, []byte("not PEM"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change(t)
			res := run(t)
			if res.ok() != st.wantOK {
				t.Fatalf("handshake ok = %v, want %v (server: %v; client: %v)", res.ok(), st.wantOK, res.serverErr, res.clientErr)
			}
			if st.wantOK && (res.clientSawCN != st.wantServer || res.serverSawCN != st.wantClient) {
				t.Errorf("saw server %q client %q, want %q and %q", res.clientSawCN, res.serverSawCN, st.wantServer, st.wantClient)
			}
		})
	}
	if logs.FilterMessage("failed to load server certificate").Len() == 0 {
		t.Errorf("missing cert file was not logged; logs: %v", logs.All())
	}
	if logs.FilterMessageSnippet("cannot use trusted CA file").Len() == 0 {
		t.Errorf("bad CA file was not logged; logs: %v", logs.All())
	}
}

func TestClientCertLoadFailure(t *testing.T) {
	e := newEnv(t)
	e.build(t)
	serverCfg, clientCfg := e.configs(t)
	if err := os.Remove(e.client.KeyFile); err != nil {
		t.Fatal(err)
	}
	res := handshake(t, serverCfg, clientCfg)
	if res.ok() || !errors.Is(res.clientErr, os.ErrNotExist) {
		t.Errorf("handshake with missing client key: server %v, client %v", res.serverErr, res.clientErr)
	}
}

// TestCAFailureLoggedOnce: a trusted CA file that cannot be read fails
// every handshake that needs it but is logged once per cause, and again
// after it worked in between.
func TestCAFailureLoggedOnce(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	e := newEnv(t)
	e.build(t)
	e.server.Logger = zap.New(core)
	e.client.TrustedCAFile, e.client.InsecureSkipVerify = "", true // the server alone verifies
	serverCfg, clientCfg := e.configs(t)
	good, err := os.ReadFile(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	runFileSteps(t, serverCfg, clientCfg, func() int { return logs.FilterMessageSnippet("cannot use trusted CA file").Len() }, []fileStep{
		{"gone", func() { os.Remove(e.caFile) }, false, 1},
		{"still gone", func() {}, false, 1},
		{"still gone, third", func() {}, false, 1},
		{"garbled", func() { os.WriteFile(e.caFile, []byte("no certificates here"), 0o600) }, false, 2},
		{"restored", func() { os.WriteFile(e.caFile, good, 0o600) }, true, 2},
		{"gone again", func() { os.Remove(e.caFile) }, false, 3},
	})
}
