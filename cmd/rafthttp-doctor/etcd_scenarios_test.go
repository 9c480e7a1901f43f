package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/internal/doctor"
	"github.com/rafthttp/rafthttp/internal/etcdtest"
	"github.com/rafthttp/rafthttp/internal/testpki"
	"github.com/rafthttp/rafthttp/rafthttptest"
)

// tlsArgs are the doctor's TLS flags for a cluster's PKI.
func tlsArgs(c *etcdtest.Cluster) []string {
	return []string{"--cacert", c.PKI.CAFile, "--cert", c.PKI.ClientCertFile, "--key", c.PKI.ClientKeyFile}
}

func TestEtcdHealthyMTLS(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Config{TLS: true})
	st := recordState(t, c)
	urls := peerURLs(c)
	code, rep := doctorJSON(t, append(tlsArgs(c), urls...)...)
	wantVerdicts(t, code, rep, 0, allCodes(urls, doctor.CodeOK))
	for _, p := range rep.Peers {
		if tl := p.TLS; tl == nil || !tl.Verified || !tl.ClientCertRequested || !tl.ClientCertSent || tl.DaysLeft < 364 {
			t.Errorf("%s: TLS %+v, want verified mTLS with a certificate valid for a year", p.URL, tl)
		}
	}

	// Without a client certificate every peer refuses the doctor.
	code, rep = doctorJSON(t, "--cacert", c.PKI.CAFile, urls[0])
	wantVerdicts(t, code, rep, 2, map[string]string{urls[0]: doctor.CodeClientCertRequired})
	st.check(t, c.Members...)
}

// TestEtcdMemberStopped also finds the members through --discover, from
// the first member's /members.
func TestEtcdMemberStopped(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Config{})
	c.StopMember(t, 2)
	st := recordState(t, c)
	urls := peerURLs(c)
	code, rep := doctorJSON(t, "--discover", urls[0])
	want := allCodes(urls, doctor.CodeOK)
	want[urls[2]] = doctor.CodeUnreachable
	wantVerdicts(t, code, rep, 2, want)
	if f := peerReport(t, rep, urls[2]).TCP.Failure; f != "refused" {
		t.Errorf("stopped member's connect failure %q, want refused", f)
	}
	st.check(t, c.Members[0], c.Members[1])
}

func TestEtcdOtherClusterAmongURLs(t *testing.T) {
	a := etcdtest.Start(t, etcdtest.Config{})
	b := etcdtest.Start(t, etcdtest.Config{Members: 1, Token: "other"})
	sa, sb := recordState(t, a), recordState(t, b)
	urls := append(peerURLs(a), b.Members[0].PeerURL)
	code, rep := doctorJSON(t, urls...)
	want := allCodes(urls, doctor.CodeOK)
	want[urls[3]] = doctor.CodeClusterMismatch
	wantVerdicts(t, code, rep, 2, want)
	if rep.ClusterID != a.ClusterID || rep.Peers[3].ClusterID != b.ClusterID {
		t.Errorf("cluster IDs: report %s, stray peer %s; want %s and %s", rep.ClusterID, rep.Peers[3].ClusterID, a.ClusterID, b.ClusterID)
	}
	sa.check(t, a.Members...)
	// The stray peer was probed with its own cluster ID: it saw no mismatch.
	sb.check(t, b.Members...)
	if lines := b.Members[0].LogLines(t, "cluster ID mismatch"); len(lines) != 0 {
		t.Errorf("stray peer logged a cluster ID mismatch: %q", lines)
	}
}

func TestEtcdPeerCertificates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		leaf    testpki.Leaf
		otherCA bool
		exit    int
		code    string
		reason  string
	}{
		{name: "expired", leaf: testpki.Leaf{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)},
			exit: 2, code: doctor.CodeCertExpired, reason: "certificate expired on"},
		{name: "expires in 3 days", leaf: testpki.Leaf{NotAfter: time.Now().Add(3*24*time.Hour + time.Hour)},
			exit: 1, code: doctor.CodeCertExpiring, reason: "expires in 3 days"},
		{name: "CA not given to the doctor", otherCA: true,
			exit: 2, code: doctor.CodeCertUntrusted, reason: "which the CA bundle does not contain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pki := etcdtest.NewPKI(t)
			ca := pki.CA
			if tc.otherCA {
				ca = testpki.NewCA(t, "not-the-cluster-ca")
			}
			c := etcdtest.Start(t, etcdtest.Config{Members: 1, TLS: true, PKI: pki,
				PeerTLS: func(_ int, def etcdtest.PeerTLS) etcdtest.PeerTLS {
					def.CertFile, def.KeyFile = etcdtest.IssueMember(t, ca, "peer", "m0", tc.leaf)
					return def
				}})
			st := recordState(t, c)
			url := c.Members[0].PeerURL
			code, rep := doctorJSON(t, append(tlsArgs(c), url)...)
			wantVerdicts(t, code, rep, tc.exit, map[string]string{url: tc.code})
			if !strings.Contains(rep.Peers[0].Verdict.Summary, tc.reason) {
				t.Errorf("summary %q does not say %q", rep.Peers[0].Verdict.Summary, tc.reason)
			}
			st.check(t, c.Members...)
		})
	}
}

// TestEtcdLatency puts a proxy adding 150 ms each way in front of one
// member: its probes must take at least the 300 ms added, and less than
// one more one-way delay at the median (a probe timed over two round
// trips would take 600 ms; the margin of 150 ms is for a loaded machine).
// --max-rtt 250ms sits below the added latency and far above loopback, so
// a stalled probe on a healthy peer is not mistaken for latency.
func TestEtcdLatency(t *testing.T) {
	const oneWay = 150 * time.Millisecond
	c := etcdtest.Start(t, etcdtest.Config{})
	st := recordState(t, c)
	proxy, err := rafthttptest.NewProxy(strings.TrimPrefix(c.Members[1].PeerURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	proxy.ToServer().SetLatency(oneWay)
	proxy.ToClient().SetLatency(oneWay)
	urls := []string{c.Members[0].PeerURL, "http://" + proxy.Addr(), c.Members[2].PeerURL}
	code, rep := doctorJSON(t, append([]string{"--max-rtt", "250ms"}, urls...)...)
	want := allCodes(urls, doctor.CodeOK)
	want[urls[1]] = doctor.CodeSlow
	wantVerdicts(t, code, rep, 1, want)
	pr := rep.Peers[1].Probe
	added, limit := float64(2*oneWay/time.Millisecond), float64(3*oneWay/time.Millisecond)
	if pr.MinMS < added || pr.P50MS >= limit {
		t.Errorf("proxied RTT min %.1fms p50 %.1fms, want min >= %.0fms and p50 < %.0fms", pr.MinMS, pr.P50MS, added, limit)
	}
	st.check(t, c.Members...)
}
