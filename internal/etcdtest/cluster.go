package etcdtest

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

// Config describes a cluster for Start. The zero value is a 3-member
// cluster over plain HTTP.
type Config struct {
	// Members is the number of members; 0 means 3.
	Members int
	// Token is the --initial-cluster-token; empty means "etcdtest". Two
	// clusters get different cluster IDs whatever their tokens, because
	// their peer URLs differ.
	Token string
	// TLS serves both ports of every member over mutual TLS with
	// certificates from PKI (Cluster.PKI).
	TLS bool
	// PKI issues the certificates when TLS is set; nil means a fresh one.
	PKI *PKI
	// PeerTLS, if set, decides the peer TLS files of member i. It receives
	// the files Start would use (zero without TLS) and returns the ones to
	// use: another certificate, a CRL file, no client-certificate auth.
	// Returning the zero value serves the peer port over plain HTTP.
	PeerTLS func(i int, def PeerTLS) PeerTLS
	// Args are extra etcd flags given to every member, after the ones
	// Start sets (among them a 250 ms heartbeat and a 5 s election
	// timeout, so a loaded machine does not cause elections).
	Args []string
	// StartTimeout bounds the wait for a healthy cluster; 0 means 30s.
	StartTimeout time.Duration
}

// Cluster is a running etcd cluster owned by one test.
type Cluster struct {
	Members   []*Member
	ClusterID string // in hex, as in X-Etcd-Cluster-ID
	PKI       *PKI   // nil without TLS

	bins    Binaries
	timeout time.Duration
}

// Start launches the members, waits until every member reports itself
// healthy on its client port and reads the member and cluster IDs. It
// registers a t.Cleanup that stops every process, so nothing outlives the
// test. It skips or fails the test as FindBinaries does when etcd is
// missing.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	c := &Cluster{bins: FindBinaries(t), timeout: cmp.Or(cfg.StartTimeout, 30*time.Second)}
	if cfg.TLS {
		c.PKI = cfg.PKI
		if c.PKI == nil {
			c.PKI = NewPKI(t)
		}
	}
	t.Cleanup(func() { c.cleanup(t) })
	for attempt := 1; ; attempt++ {
		c.Members = c.plan(t, cfg)
		for _, m := range c.Members {
			m.start(t)
		}
		err := c.awaitHealthy(t, c.Members)
		if err == nil {
			break
		}
		if !lostPortRace(err) || attempt == startAttempts {
			t.Fatal(err)
		}
		t.Logf("%v; starting again on other ports", err)
		for _, m := range c.Members {
			m.stop()
		}
	}
	c.readIDs(t)
	return c
}

// startAttempts is how many times Start plans a cluster on fresh ports
// when a member finds one of its ports taken.
const startAttempts = 3

// plan fixes every member's name, ports, directories and command line.
func (c *Cluster) plan(t testing.TB, cfg Config) []*Member {
	t.Helper()
	n := cmp.Or(cfg.Members, 3)
	ports := freePorts(t, 2*n)
	dir := t.TempDir()
	members := make([]*Member, n)
	var initial []string
	for i := range n {
		m := &Member{Name: fmt.Sprintf("m%d", i), bin: c.bins.Etcd}
		c.memberTLS(t, cfg, i, m)
		m.PeerURL = peerScheme(m.PeerTLS) + "://127.0.0.1:" + ports[2*i]
		m.ClientURL = clientScheme(m) + "://127.0.0.1:" + ports[2*i+1]
		m.DataDir = filepath.Join(dir, m.Name+".etcd")
		m.LogFile = filepath.Join(dir, m.Name+".log")
		initial = append(initial, m.Name+"="+m.PeerURL)
		members[i] = m
	}
	token := cmp.Or(cfg.Token, "etcdtest")
	for _, m := range members {
		m.args = append(c.memberArgs(m, strings.Join(initial, ","), token), cfg.Args...)
	}
	return members
}

// memberTLS issues member i's certificate, used on its client port, and
// settles its peer TLS files.
func (c *Cluster) memberTLS(t testing.TB, cfg Config, i int, m *Member) {
	t.Helper()
	if c.PKI != nil {
		m.clientCert, m.clientKey = c.PKI.IssueMember(t, m.Name, m.Name, testpki.Leaf{})
		m.PeerTLS = PeerTLS{CertFile: m.clientCert, KeyFile: m.clientKey,
			TrustedCAFile: c.PKI.CAFile, ClientCertAuth: true}
	}
	if cfg.PeerTLS != nil {
		m.PeerTLS = cfg.PeerTLS(i, m.PeerTLS)
	}
}

func peerScheme(p PeerTLS) string {
	if p.enabled() {
		return "https"
	}
	return "http"
}

func clientScheme(m *Member) string {
	if m.clientCert != "" {
		return "https"
	}
	return "http"
}
