package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rafthttp/rafthttp/internal/doctor"
	"github.com/rafthttp/rafthttp/internal/etcdtest"
)

// fromIDHex is the stream probe's default sender ID as peers log it.
const fromIDHex = "646f63746f72"

// testMaxRTT is the --max-rtt the scenarios run with unless they set
// their own: the test machine is shared, and a probe stalled by its load
// must not turn a healthy peer into HIGH_RTT.
const testMaxRTT = "1s"

// doctorJSON runs the command with -o json and args, logs its output and
// returns the exit code and the decoded report.
func doctorJSON(t *testing.T, args ...string) (int, *doctor.Report) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"-o", "json", "--max-rtt", testMaxRTT}, args...), &out, &errOut)
	var rep doctor.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d, output not a JSON report (%v):\n%s%s", code, err, out.String(), errOut.String())
	}
	var table bytes.Buffer
	if err := doctor.WriteTable(&table, &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("rafthttp-doctor %s -> exit %d\n%s", strings.Join(args, " "), code, table.String())
	return code, &rep
}

// wantVerdicts checks the exit code and each peer's verdict code, by URL.
func wantVerdicts(t *testing.T, code int, rep *doctor.Report, wantCode int, want map[string]string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code %d, want %d", code, wantCode)
	}
	if len(rep.Peers) != len(want) {
		t.Fatalf("%d peers in the report, want %d", len(rep.Peers), len(want))
	}
	for _, p := range rep.Peers {
		if got := p.Verdict.Code; got != want[p.URL] {
			t.Errorf("%s: verdict %s (%s), want %s", p.URL, got, p.Verdict.Summary, want[p.URL])
		}
	}
}

// peerReport finds a peer's report by URL: discovered peers come in the
// order of /members.
func peerReport(t *testing.T, rep *doctor.Report, url string) *doctor.PeerReport {
	t.Helper()
	for _, p := range rep.Peers {
		if p.URL == url {
			return p
		}
	}
	t.Fatalf("no report for %s", url)
	return nil
}

func peerURLs(c *etcdtest.Cluster) []string {
	var urls []string
	for _, m := range c.Members {
		urls = append(urls, m.PeerURL)
	}
	return urls
}

func allCodes(urls []string, code string) map[string]string {
	m := map[string]string{}
	for _, u := range urls {
		m[u] = code
	}
	return m
}

// untouched records a cluster's raft state so a test can check, after
// running the doctor, that nothing changed.
type untouched struct {
	c     *etcdtest.Cluster
	terms map[string]uint64 // member ID -> raft term
}

func recordState(t *testing.T, c *etcdtest.Cluster) untouched {
	t.Helper()
	u := untouched{c: c, terms: map[string]uint64{}}
	for _, s := range c.Status(t) {
		u.terms[s.MemberID] = s.RaftTerm
	}
	return u
}

// check asserts that every running member has the same term as before,
// logged no member added beyond the initial ones, and that each member in
// probed logged the doctor's stream probe (two warnings naming its ID).
func (u untouched) check(t *testing.T, probed ...*etcdtest.Member) {
	t.Helper()
	for _, s := range u.c.Status(t) {
		if before, ok := u.terms[s.MemberID]; !ok || before != s.RaftTerm {
			t.Errorf("member %s: term %d, before the doctor %d (known %v)", s.MemberID, s.RaftTerm, before, ok)
		}
	}
	for _, m := range u.c.Members {
		if got := len(m.LogLines(t, `"added member"`)); got != len(u.c.Members) {
			t.Errorf("%s logged %d added members, want the %d initial ones", m.Name, got, len(u.c.Members))
		}
	}
	for _, m := range probed {
		if got := m.LogLines(t, fromIDHex); len(got) != 2 || !strings.Contains(got[0], "failed to find remote peer in cluster") {
			t.Errorf("%s logged %d lines naming the probe's sender, want 2 \"failed to find remote peer in cluster\": %q", m.Name, len(got), got)
		}
	}
}

func TestEtcdHealthyPlain(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Config{})
	st := recordState(t, c)
	code, rep := doctorJSON(t, peerURLs(c)...)
	wantVerdicts(t, code, rep, 0, allCodes(peerURLs(c), doctor.CodeOK))
	if rep.ClusterID != c.ClusterID {
		t.Errorf("cluster ID %s, want %s", rep.ClusterID, c.ClusterID)
	}
	for i, p := range rep.Peers {
		m := c.Members[i]
		if p.MemberID != m.ID || p.Name != m.Name || p.Version.Server != "3.4.23" || p.Version.Source != "/version" || p.Probe.Count != 10 {
			t.Errorf("peer %d: %+v", i, p)
		}
	}
	st.check(t, c.Members...)
}
