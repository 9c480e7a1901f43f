package probing

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// countingServer serves NewHandler and reports each request's arrival on
// arrived. Because a prober's loop is sequential, the arrival of request n
// proves that probe n-1 has been recorded.
func countingServer(t *testing.T) (url string, arrived <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 100)
	h := NewHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ch <- struct{}{}:
		default:
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/raft/probing", ch
}

// newTestTransport returns a transport whose idle connections are closed when
// the test ends, so goleak sees no leftover connection goroutines.
func newTestTransport(t *testing.T) *http.Transport {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// deadURL returns a URL on which nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/raft/probing"
}

func TestEndToEndSuccess(t *testing.T) {
	url, arrived := countingServer(t)
	p := NewProber(newTestTransport(t))
	defer p.RemoveAll()
	s := addProbe(t, p, "peer", 5*time.Millisecond, url)

	for range 3 {
		<-arrived
	}
	if err := p.Remove("peer"); err != nil {
		t.Fatal(err)
	}
	if s.Total() < 2 || s.Loss() != 0 || !s.Health() || s.Err() != nil {
		t.Fatalf("total=%d loss=%d health=%v err=%v, want >=2 0 true nil", s.Total(), s.Loss(), s.Health(), s.Err())
	}
	if s.SRTT() <= 0 {
		t.Errorf("SRTT() = %v, want > 0", s.SRTT())
	}
	if d := s.ClockDiff(); d < -time.Second || d > time.Second {
		t.Errorf("ClockDiff() = %v, want about 0 on one host", d)
	}
}

func TestEndToEndFailover(t *testing.T) {
	url, arrived := countingServer(t)
	p := NewProber(newTestTransport(t))
	defer p.RemoveAll()
	s := addProbe(t, p, "peer", 5*time.Millisecond, deadURL(t), url)

	for range 2 {
		<-arrived
	}
	p.RemoveAll()
	if s.Loss() != 1 || s.Total() < 2 || !s.Health() || s.Err() != nil {
		t.Fatalf("total=%d loss=%d health=%v err=%v, want >=2 1 true nil", s.Total(), s.Loss(), s.Health(), s.Err())
	}
}

func TestEndToEndRemoveHanging(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release // ignores cancellation: only the client side can end this probe
	}))
	defer srv.Close()
	defer close(release)
	p := NewProber(newTestTransport(t))
	defer p.RemoveAll()
	s := addProbe(t, p, "peer", 5*time.Millisecond, srv.URL)

	<-arrived
	start := time.Now()
	if err := p.Remove("peer"); err != nil {
		t.Fatal(err)
	}
	// Without cancellation Remove would wait for the probe deadline.
	if d := time.Since(start); d >= minProbeTimeout {
		t.Errorf("Remove took %v, want well under the %v probe deadline", d, minProbeTimeout)
	}
	if s.Total() != 0 {
		t.Errorf("Total() = %d, want 0: the cancelled probe must not count", s.Total())
	}
}
