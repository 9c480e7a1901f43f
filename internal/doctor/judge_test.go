package doctor

import (
	"strings"
	"testing"
)

// healthyReport is a peer report that passes every check.
func healthyReport(url, cluster string) *PeerReport {
	return &PeerReport{
		URL: url, TCP: TCPResult{ConnectMS: 0.1}, ClusterID: cluster,
		Version: VersionResult{Server: "3.4.23", Cluster: "3.4.0", Source: "/version"},
		Probe:   &ProbeResult{Count: 10, MinMS: 0.1, P50MS: 0.2, P99MS: 0.3, MaxMS: 0.3},
		Stream:  []StreamCheck{{Type: "message", Status: 404, Body: senderNotFound, ReachedMemberCheck: true}},
	}
}

func TestVerdictOrder(t *testing.T) {
	cfg := Config{}.withDefaults()
	for _, tc := range []struct {
		name   string
		change func(r *PeerReport, p *peer)
		want   string
		status Status
	}{
		{"healthy", func(*PeerReport, *peer) {}, CodeOK, StatusOK},
		{"refused beats everything", func(r *PeerReport, _ *peer) {
			r.TCP = TCPResult{Failure: "refused", Error: "connection refused"}
			r.ClusterID = "other"
		}, CodeUnreachable, StatusFail},
		{"expired certificate", func(r *PeerReport, _ *peer) {
			r.TLS = &TLSResult{VerifyError: "certificate expired on 2026-01-01T00:00:00Z"}
		}, CodeCertExpired, StatusFail},
		{"client certificate missing under TLS 1.3", func(r *PeerReport, p *peer) {
			r.TLS = &TLSResult{Verified: true, DaysLeft: 300, ClientCertRequested: true}
			p.httpErr = "remote error: tls: certificate required"
		}, CodeClientCertRequired, StatusFail},
		{"blackholed after connect", func(_ *PeerReport, p *peer) { p.httpErr = "context deadline exceeded" }, CodeUnresponsive, StatusFail},
		{"other cluster", func(r *PeerReport, _ *peer) { r.ClusterID = "other" }, CodeClusterMismatch, StatusFail},
		{"stream refused", func(r *PeerReport, _ *peer) {
			r.Stream[0] = StreamCheck{Type: "message", Status: 412, Body: "incompatible version"}
		}, CodeVersion, StatusFail},
		{"no probing endpoint", func(r *PeerReport, _ *peer) { r.Probe = &ProbeResult{Count: 1, Failed: 1, Error: "answered 404"} }, CodeNotAPeer, StatusFail},
		{"drift beats slowness", func(r *PeerReport, _ *peer) { r.Probe.DriftMS, r.Probe.P99MS = -1500, 500 }, CodeClockDrift, StatusFail},
		{"drift under a second", func(r *PeerReport, _ *peer) { r.Probe.DriftMS = 900 }, CodeOK, StatusOK},
		{"expiring", func(r *PeerReport, _ *peer) { r.TLS = &TLSResult{Verified: true, DaysLeft: 3} }, CodeCertExpiring, StatusWarn},
		{"slow", func(r *PeerReport, _ *peer) { r.Probe.P99MS = 150 }, CodeSlow, StatusWarn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := healthyReport("http://a:2380", "c1")
			p := &peer{rep: r}
			tc.change(r, p)
			v := verdictFor(cfg, p, "c1", "")
			if v.Code != tc.want || v.Status != tc.status || v.Summary == "" {
				t.Fatalf("verdict %+v, want %s/%s", v, tc.want, tc.status)
			}
			if tc.status != StatusOK && (v.Cause == "" || v.Action == "") {
				t.Fatalf("verdict %+v lacks a cause or an action", v)
			}
		})
	}
}

func TestMajorityClusterID(t *testing.T) {
	peers := func(ids ...string) []*peer {
		var ps []*peer
		for _, id := range ids {
			ps = append(ps, &peer{rep: &PeerReport{ClusterID: id}})
		}
		return ps
	}
	for _, tc := range []struct {
		ids  []string
		want string
	}{{[]string{"a", "b", "b"}, "b"}, {[]string{"a", "b"}, "a"}, {[]string{"", "c"}, "c"}, {nil, ""}} {
		if got := majorityClusterID(peers(tc.ids...)); got != tc.want {
			t.Errorf("majority of %v = %q, want %q", tc.ids, got, tc.want)
		}
	}
}

func TestVersionProblem(t *testing.T) {
	mk := func(server, cluster string) *peer {
		return &peer{rep: &PeerReport{URL: "http://" + server, Version: VersionResult{Server: server, Cluster: cluster}}}
	}
	old, cur, next := mk("3.3.27", "3.3.0"), mk("3.4.23", "3.4.0"), mk("3.5.0", "")
	all := []*peer{old, cur, next}
	if got := versionProblem(old, all); !strings.Contains(got, "older than the cluster version 3.4.0") {
		t.Errorf("3.3 among a 3.4 cluster: %q", got)
	}
	for _, p := range []*peer{cur, next} {
		if got := versionProblem(p, all); got != "" {
			t.Errorf("%s: %q, want no problem", p.rep.URL, got)
		}
	}
	if got := versionProblem(mk("2.3.8", ""), all); got == "" {
		t.Error("a 2.3 server passed")
	}
	if got := versionProblem(mk("", ""), all); got != "" {
		t.Errorf("unknown version: %q", got)
	}
}

func TestClusterNotes(t *testing.T) {
	withDrift := func(d float64) *peer {
		return &peer{rep: &PeerReport{Probe: &ProbeResult{Count: 1, DriftMS: d}}}
	}
	if n := clusterNotes([]*peer{withDrift(-2000), withDrift(-1900)}); len(n) != 1 || !strings.Contains(n[0], "this machine's clock") {
		t.Errorf("same drift everywhere: notes %q", n)
	}
	if n := clusterNotes([]*peer{withDrift(-2000), withDrift(3)}); len(n) != 0 {
		t.Errorf("one drifting peer: notes %q", n)
	}
}

func TestPickSender(t *testing.T) {
	ps := []*peer{{rep: &PeerReport{Members: []Member{{ID: "646f63746f72"}, {ID: "646f63746f73"}}}}}
	if got := pickSender(DefaultFromID, ps); got != DefaultFromID+2 {
		t.Fatalf("picked %x", got)
	}
	if got := pickSender(DefaultFromID, nil); got != DefaultFromID {
		t.Fatalf("picked %x with no members", got)
	}
}

func TestFmtMS(t *testing.T) {
	for v, want := range map[float64]string{-0.001: "0.00ms", 0.123: "0.12ms", 42.4: "42ms", -3000: "-3.00s"} {
		if got := fmtMS(v); got != want {
			t.Errorf("fmtMS(%v) = %q, want %q", v, got, want)
		}
	}
}
