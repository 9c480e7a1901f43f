package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	xprobing "github.com/xiang90/probing"

	ourprobing "github.com/rafthttp/rafthttp/probing"
)

// healthBody is the exact shape of a probing reply: Go's json.Encoder
// output of {OK bool; Now time.Time}, newline-terminated.
var healthBody = regexp.MustCompile(`^\{"OK":true,"Now":"[^"]+"\}\n$`)

// doRequest sends one request on a fresh connection and returns the
// response with its body read. The connection is not kept.
func doRequest(t *testing.T, method, url string, header http.Header, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestProbingEndpoint checks /raft/probing on both members with a plain
// client (any method is accepted) and with the other implementation's
// prober: our prober against etcd, xiang90/probing (etcd's) against ours.
func TestProbingEndpoint(t *testing.T) {
	ours, etcd := startPair(t, sideConfig{clusterID: clusterID}, sideConfig{clusterID: clusterID})
	for _, s := range []*side{ours, etcd} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(s.name+"/"+method, func(t *testing.T) {
				before := time.Now()
				resp, body := doRequest(t, method, s.srv.URL+pathProbing, nil, nil)
				if resp.StatusCode != http.StatusOK || !healthBody.MatchString(body) {
					t.Fatalf("got %d %q, want 200 and a health body", resp.StatusCode, body)
				}
				var h struct {
					OK  bool
					Now time.Time
				}
				if err := json.Unmarshal([]byte(body), &h); err != nil {
					t.Fatal(err)
				}
				if !h.OK || h.Now.Before(before.Add(-time.Minute)) || h.Now.After(time.Now().Add(time.Minute)) {
					t.Errorf("health %+v, want OK and a current time", h)
				}
			})
		}
	}
	t.Run("our_prober_to_etcd", func(t *testing.T) {
		rt := &http.Transport{}
		defer rt.CloseIdleConnections()
		p := ourprobing.NewProber(rt)
		defer p.RemoveAll()
		if err := p.AddHTTP("etcd", 10*time.Millisecond, []string{etcd.srv.URL + pathProbing}); err != nil {
			t.Fatal(err)
		}
		st, err := p.Status("etcd")
		if err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, st)
	})
	t.Run("etcd_prober_to_ours", func(t *testing.T) {
		rt := &http.Transport{}
		defer rt.CloseIdleConnections()
		p := xprobing.NewProber(rt)
		defer p.RemoveAll()
		if err := p.AddHTTP("ours", 10*time.Millisecond, []string{ours.srv.URL + pathProbing}); err != nil {
			t.Fatal(err)
		}
		st, err := p.Status("ours")
		if err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, st)
	})
}

// proberStatus is the part of both probers' Status the test reads.
type proberStatus interface {
	Total() int64
	Loss() int64
	Health() bool
	Err() error
}

// waitHealthy waits for three probes and requires none of them to fail.
func waitHealthy(t *testing.T, st proberStatus) {
	t.Helper()
	waitFor(t, 5*time.Second, "three probes", func() bool { return st.Total() >= 3 })
	if st.Loss() != 0 || !st.Health() {
		t.Fatalf("prober saw %d of %d probes fail, last error %v", st.Loss(), st.Total(), st.Err())
	}
}
