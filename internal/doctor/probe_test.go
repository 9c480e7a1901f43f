package doctor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/probing"
)

func TestSummarise(t *testing.T) {
	var samples []sample
	for i := 10; i >= 1; i-- { // 10ms..1ms, fastest last
		samples = append(samples, sample{rtt: time.Duration(i) * time.Millisecond, drift: time.Duration(i) * time.Second})
	}
	res := &ProbeResult{}
	summarise(res, samples)
	want := ProbeResult{MinMS: 1, P50MS: 5, P99MS: 10, MaxMS: 10, DriftMS: 1000}
	if *res != want {
		t.Fatalf("summary %+v, want %+v", *res, want)
	}
	one := &ProbeResult{}
	summarise(one, []sample{{rtt: 3 * time.Millisecond}})
	if one.MinMS != 3 || one.P50MS != 3 || one.P99MS != 3 || one.MaxMS != 3 {
		t.Fatalf("one sample: %+v", *one)
	}
}

func TestProbeAgainstHandler(t *testing.T) {
	srv := httptest.NewServer(probing.NewHandlerWithClock(func() time.Time { return time.Now().Add(-2 * time.Second) }))
	defer srv.Close()
	pc := testClient(t, srv.URL)
	res := probe(context.Background(), pc, 5, time.Now)
	if res.Count != 5 || res.Failed != 0 || res.DriftMS < 1900 || res.DriftMS > 2100 || res.MinMS <= 0 {
		t.Fatalf("probe %+v, want 5 good probes and +2s drift", res)
	}

	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	res = probe(context.Background(), testClient(t, notFound.URL), 5, time.Now)
	if res.Failed != 1 || res.Count != 1 || res.Error != "/raft/probing answered 404" {
		t.Fatalf("probe of a non-peer %+v", res)
	}
}

// testClient is a peerClient for a plain-HTTP test server, closed at the
// end of the test.
func testClient(t *testing.T, raw string) *peerClient {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pc := newPeerClient(u, &tlsSetup{}, 2*time.Second)
	t.Cleanup(pc.close)
	return pc
}
