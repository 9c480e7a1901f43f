package doctor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/probing"
)

func TestWatch(t *testing.T) {
	good := httptest.NewServer(probing.NewHandler())
	defer good.Close()
	ahead := httptest.NewServer(probing.NewHandlerWithClock(func() time.Time { return time.Now().Add(5 * time.Second) }))
	defer ahead.Close()
	cfg := Config{Peers: []string{good.URL, ahead.URL}, Probes: 3}

	var text bytes.Buffer
	worst, err := Watch(context.Background(), cfg, WatchOptions{Interval: 10 * time.Millisecond, Rounds: 2}, &text)
	if err != nil || worst != StatusFail {
		t.Fatalf("worst %s (%v), want fail", worst, err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], " ok") || !strings.Contains(lines[1], "drift -5.00s") ||
		!strings.HasSuffix(lines[3], "fail (clock drift above 1s)") {
		t.Fatalf("watch output:\n%s", text.String())
	}

	var js bytes.Buffer
	if _, err := Watch(context.Background(), Config{Peers: []string{good.URL}}, WatchOptions{Interval: time.Millisecond, Rounds: 3, JSON: true}, &js); err != nil {
		t.Fatal(err)
	}
	n := 0
	for sc := bufio.NewScanner(&js); sc.Scan(); n++ {
		var s WatchSample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil || s.Status != StatusOK || s.Probe.Count != 10 {
			t.Fatalf("sample %s (%v)", sc.Text(), err)
		}
	}
	if n != 3 {
		t.Fatalf("%d JSON samples, want 3", n)
	}
}

func TestWatchStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(probing.NewHandler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan Status)
	go func() {
		s, _ := Watch(ctx, Config{Peers: []string{srv.URL}, Probes: 1}, WatchOptions{Interval: time.Hour}, &out)
		done <- s
	}()
	cancel()
	if s := <-done; s != StatusOK {
		t.Fatalf("status %s", s)
	}
}

func TestWatchUnreachable(t *testing.T) {
	var out bytes.Buffer
	worst, err := Watch(context.Background(), Config{Peers: []string{"http://127.0.0.1:1"}, Timeout: time.Second}, WatchOptions{Rounds: 1}, &out)
	if err != nil || worst != StatusFail || !strings.Contains(out.String(), "fail (unreachable: ") {
		t.Fatalf("worst %s (%v), output %q", worst, err, out.String())
	}
}

// TestWatchTLSFailure: a peer whose TLS handshake fails is reported with
// the handshake's error, not an empty reason.
func TestWatchTLSFailure(t *testing.T) {
	plain := httptest.NewServer(probing.NewHandler())
	defer plain.Close()
	var out bytes.Buffer
	peer := "https://" + strings.TrimPrefix(plain.URL, "http://")
	worst, err := Watch(context.Background(), Config{Peers: []string{peer}, Timeout: 5 * time.Second}, WatchOptions{Rounds: 1}, &out)
	if err != nil || worst != StatusFail || !strings.Contains(out.String(), "fail (unreachable: TLS handshake: ") {
		t.Fatalf("worst %s (%v), output %q", worst, err, out.String())
	}
}

func TestRunInputErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Peers: []string{"10.0.0.1:2380"}},
		{Peers: []string{"ftp://10.0.0.1:2380"}},
		{Peers: []string{"http://127.0.0.1:2380"}, CACert: "/nonexistent"},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
}

func TestWriteTable(t *testing.T) {
	bad := healthyReport("http://b:2380", "c2")
	bad.Verdict = Verdict{Status: StatusFail, Code: CodeClusterMismatch, Summary: "answers for cluster c2", Cause: "cause text", Action: "action text"}
	good := healthyReport("http://a:2380", "c1")
	good.Verdict = okVerdict(good)
	rep := &Report{ClusterID: "c1", Peers: []*PeerReport{good, bad}, Status: StatusFail, Notes: []string{"a note"}}
	var out bytes.Buffer
	if err := WriteTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PEER ", "http://a:2380", "CLUSTER_ID_MISMATCH", "FAIL http://b:2380: answers for cluster c2",
		"likely cause: cause text", "what to do:   action text", "note: a note", "FAIL: 2 peers: 1 ok, 0 warn, 1 fail (cluster c1)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if ExitCode(rep) != 2 || ExitCode(&Report{Status: StatusWarn}) != 1 || ExitCode(&Report{Status: StatusOK}) != 0 {
		t.Error("exit codes")
	}
}
