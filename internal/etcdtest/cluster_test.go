package etcdtest

import (
	"crypto/tls"
	"errors"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

func TestPlainClusterStopRestart(t *testing.T) {
	c := Start(t, Config{})
	if len(c.Members) != 3 || c.ClusterID == "" || c.PKI != nil {
		t.Fatalf("cluster = %+v", c)
	}
	ids := map[string]bool{}
	for _, m := range c.Members {
		ids[m.ID] = true
		if !strings.HasPrefix(m.PeerURL, "http://127.0.0.1:") || !m.Running() {
			t.Fatalf("member %+v", m)
		}
		if got := len(m.LogLines(t, `"added member"`)); got != 3 {
			t.Errorf("%s logged %d added members, want 3", m.Name, got)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("member IDs not distinct: %v", ids)
	}
	assertStatus(t, c, 3)

	c.StopMember(t, 1)
	if c.Members[1].Running() {
		t.Fatal("member 1 still running after StopMember")
	}
	assertStatus(t, c, 2)
	c.RestartMember(t, 1)
	assertStatus(t, c, 3)
}

// assertStatus checks that n members answer, all in the cluster, agreeing
// on one leader among the members.
func assertStatus(t *testing.T, c *Cluster, n int) {
	t.Helper()
	st := c.Status(t)
	if len(st) != n {
		t.Fatalf("status of %d members, want %d: %+v", len(st), n, st)
	}
	for _, s := range st {
		if s.ClusterID != c.ClusterID || s.RaftTerm == 0 || s.Leader != st[0].Leader {
			t.Fatalf("status %+v (cluster %s)", s, c.ClusterID)
		}
	}
	if !slices.ContainsFunc(c.Members, func(m *Member) bool { return m.ID == st[0].Leader }) {
		t.Fatalf("leader %s is not a member", st[0].Leader)
	}
}

func TestTLSClusterServesMutualTLS(t *testing.T) {
	c := Start(t, Config{TLS: true})
	m := c.Members[0]
	if !strings.HasPrefix(m.PeerURL, "https://") || !strings.HasPrefix(m.ClientURL, "https://") {
		t.Fatalf("URLs %s %s", m.PeerURL, m.ClientURL)
	}
	cfg := c.PKI.clientConfig(t)
	resp := get(t, cfg, m.PeerURL+"/members")
	if got := resp.Header.Get("X-Etcd-Cluster-ID"); got != c.ClusterID {
		t.Fatalf("peer port answers cluster %q, want %q", got, c.ClusterID)
	}
	noCert := cfg.Clone()
	noCert.Certificates = nil
	if _, err := getErr(noCert, m.PeerURL+"/members"); err == nil {
		t.Fatal("peer port accepted a client without a certificate")
	}
	assertStatus(t, c, 3)
}

func TestPeerTLSOverride(t *testing.T) {
	other := testpki.NewCA(t, "other-ca")
	c := Start(t, Config{Members: 1, TLS: true, PeerTLS: func(i int, def PeerTLS) PeerTLS {
		def.CertFile, def.KeyFile = other.Issue(t, "peer", testpki.Leaf{CN: "peer"})
		// etcd demands a client certificate whenever a trusted CA is set.
		def.TrustedCAFile, def.ClientCertAuth = "", false
		return def
	}})
	cfg := c.PKI.clientConfig(t)
	if _, err := getErr(cfg, c.Members[0].PeerURL+"/members"); err == nil {
		t.Fatal("peer certificate from another CA verified against the cluster CA")
	}
	cfg.RootCAs, cfg.Certificates = nil, nil
	cfg.InsecureSkipVerify = true
	resp := get(t, cfg, c.Members[0].PeerURL+"/members")
	if resp.TLS.PeerCertificates[0].Issuer.CommonName != "other-ca" {
		t.Fatalf("peer certificate issued by %v", resp.TLS.PeerCertificates[0].Issuer)
	}
}

func TestPeerTLSArgs(t *testing.T) {
	p := PeerTLS{CertFile: "c", KeyFile: "k", TrustedCAFile: "ca", CRLFile: "crl", ClientCertAuth: true}
	want := []string{"--peer-cert-file", "c", "--peer-key-file", "k", "--peer-trusted-ca-file", "ca",
		"--peer-crl-file", "crl", "--peer-client-cert-auth"}
	if got := p.args(); !slices.Equal(got, want) {
		t.Fatalf("args = %q, want %q", got, want)
	}
	if got := (PeerTLS{}).args(); got != nil {
		t.Fatalf("plain HTTP args = %q", got)
	}
}

func TestCleanupLeavesNoProcess(t *testing.T) {
	var pids []int
	t.Run("cluster", func(t *testing.T) {
		c := Start(t, Config{Members: 1})
		pids = append(pids, c.Members[0].proc.cmd.Process.Pid)
	})
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("etcd pid %d still exists after cleanup (kill 0: %v)", pid, err)
		}
	}
}

func get(t *testing.T, cfg *tls.Config, url string) *http.Response {
	t.Helper()
	resp, err := getErr(cfg, url)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// getErr GETs url with a fresh client and closes the body; the returned
// response keeps its headers and TLS state.
func getErr(cfg *tls.Config, url string) (*http.Response, error) {
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

// TestLostPortRace: only a member that exited on a taken port makes Start
// try again.
func TestLostPortRace(t *testing.T) {
	taken := "listen tcp 127.0.0.1:42879: bind: address already in use"
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&startError{member: "m2", exited: true, tail: taken}, true},
		{&startError{member: "m2", tail: taken}, false}, // still running: not healthy in time
		{&startError{member: "m2", exited: true, tail: "member count is unequal"}, false},
		{errors.New(taken), false},
	} {
		if got := lostPortRace(tc.err); got != tc.want {
			t.Errorf("lostPortRace(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
