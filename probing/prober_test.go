package probing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

const (
	urlA = "http://a.test/raft/probing"
	urlB = "http://b.test/raft/probing"
	urlC = "http://c.test/raft/probing"
)

func TestProbeSuccess(t *testing.T) {
	tests := []struct {
		name    string
		latency time.Duration
		skew    time.Duration // remote clock ahead of local
	}{
		{name: "instant", latency: 0, skew: 0},
		{name: "latency", latency: 100 * time.Millisecond, skew: 0},
		{name: "remote ahead", latency: 100 * time.Millisecond, skew: 3 * time.Second},
		{name: "remote behind", latency: 40 * time.Millisecond, skew: -2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeTransport()
				f.route(urlA, skewedHandler(tt.skew))
				f.setLatency(tt.latency)
				p := NewProber(f)
				defer p.RemoveAll()
				s := addProbe(t, p, "1", time.Second, urlA)

				advance(time.Second - 1)
				if s.Total() != 0 || s.Health() {
					t.Fatalf("before first tick: total=%d health=%v, want 0 false", s.Total(), s.Health())
				}
				advance(1 + tt.latency)
				checkStatus(t, s, 1, 0, true)
				if s.Err() != nil {
					t.Errorf("Err() = %v, want nil", s.Err())
				}
				if s.SRTT() != tt.latency {
					t.Errorf("SRTT() = %v, want %v", s.SRTT(), tt.latency)
				}
				if want := -tt.skew - tt.latency/2; s.ClockDiff() != want {
					t.Errorf("ClockDiff() = %v, want %v", s.ClockDiff(), want)
				}
				if !f.allBodiesClosed() {
					t.Error("a response body was not closed")
				}
			})
		})
	}
}

func TestSRTTSmoothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTransport()
		f.route(urlA, NewHandler())
		p := NewProber(f)
		defer p.RemoveAll()
		s := addProbe(t, p, "1", time.Second, urlA)

		f.setLatency(100 * time.Millisecond)
		advance(time.Second + 100*time.Millisecond)
		f.setLatency(200 * time.Millisecond)
		advance(time.Second + 100*time.Millisecond)
		checkStatus(t, s, 2, 0, true)
		if want := 112500 * time.Microsecond; s.SRTT() != want {
			t.Errorf("SRTT() = %v, want %v", s.SRTT(), want)
		}
	})
}

func TestProbeRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTransport()
		f.route(urlA, NewHandler())
		p := NewProber(f)
		defer p.RemoveAll()
		addProbe(t, p, "1", time.Second, urlA)
		advance(time.Second)

		req := f.lastRequest()
		if req == nil {
			t.Fatal("no request sent")
		}
		if req.Method != http.MethodGet || req.URL.String() != urlA {
			t.Errorf("request = %s %s, want GET %s", req.Method, req.URL, urlA)
		}
		if len(req.Header) != 0 {
			t.Errorf("request headers = %v, want none", req.Header)
		}
		if req.Body != nil && req.Body != http.NoBody {
			t.Errorf("request has a body")
		}
	})
}

// failureCase is a way for a probe to fail and a check of the recorded error.
type failureCase struct {
	name    string
	handler http.Handler // nil: connection refused
	check   func(error) bool
}

func failureCases() []failureCase {
	return []failureCase{
		{
			name:    "status 500",
			handler: statusHandler(http.StatusInternalServerError),
			check: func(err error) bool {
				return err.Error() == "got unexpected HTTP status code 500 Internal Server Error from "+urlA
			},
		},
		{
			name:    "status 404",
			handler: statusHandler(http.StatusNotFound),
			check: func(err error) bool {
				return err.Error() == "got unexpected HTTP status code 404 Not Found from "+urlA
			},
		},
		{
			name:  "transport error",
			check: func(err error) bool { return errors.Is(err, errRefused) && strings.Contains(err.Error(), urlA) },
		},
		{
			name:    "not json",
			handler: bodyHandler("hello"),
			check:   func(err error) bool { return strings.Contains(err.Error(), "decode reply from "+urlA) },
		},
		{
			name:    "empty body",
			handler: bodyHandler(""),
			check:   func(err error) bool { return strings.Contains(err.Error(), "decode reply from "+urlA) },
		},
		{
			name:    "OK false",
			handler: bodyHandler(`{"OK":false,"Now":"2000-01-01T00:00:00Z"}`),
			check:   func(err error) bool { return err.Error() == "probing: "+urlA+" reported not OK" },
		},
		{
			name:    "oversized reply",
			handler: oversizedHandler(),
			check:   func(err error) bool { return strings.Contains(err.Error(), "decode reply from "+urlA) },
		},
	}
}

func TestProbeFailure(t *testing.T) {
	for _, tt := range failureCases() {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				testFailureThenFailover(t, tt.handler, tt.check)
			})
		})
	}
}

// testFailureThenFailover probes [urlA, urlB] where urlA is served by bad and
// urlB is healthy: the first probe must fail with an error accepted by check
// and the second must go to urlB and succeed.
func testFailureThenFailover(t *testing.T, bad http.Handler, check func(error) bool) {
	t.Helper()
	f := newFakeTransport()
	if bad != nil {
		f.route(urlA, bad)
	}
	f.route(urlB, NewHandler())
	p := NewProber(f)
	defer p.RemoveAll()
	s := addProbe(t, p, "1", time.Second, urlA, urlB)

	advance(time.Second)
	checkStatus(t, s, 1, 1, false)
	if err := s.Err(); err == nil || !check(err) {
		t.Errorf("Err() = %v, not the expected error", err)
	}
	advance(time.Second)
	checkStatus(t, s, 2, 1, true)
	if s.Err() != nil {
		t.Errorf("Err() after recovery = %v, want nil", s.Err())
	}
	if got, want := f.urls(), []string{urlA, urlB}; !slices.Equal(got, want) {
		t.Errorf("requested %v, want %v", got, want)
	}
	if !f.allBodiesClosed() {
		t.Error("a response body was not closed")
	}
}

func TestRotationWraps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTransport() // no routes: every endpoint refuses
		p := NewProber(f)
		defer p.RemoveAll()
		s := addProbe(t, p, "1", time.Second, urlA, urlB, urlC)

		advance(4 * time.Second)
		checkStatus(t, s, 4, 4, false)
		if got, want := f.urls(), []string{urlA, urlB, urlC, urlA}; !slices.Equal(got, want) {
			t.Errorf("requested %v, want %v", got, want)
		}
	})
}

func TestEndpointsCopied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTransport()
		f.route(urlA, NewHandler())
		p := NewProber(f)
		defer p.RemoveAll()
		endpoints := []string{urlA}
		if err := p.AddHTTP("1", time.Second, endpoints); err != nil {
			t.Fatal(err)
		}
		endpoints[0] = urlB
		advance(time.Second)
		if got := f.urls(); !slices.Equal(got, []string{urlA}) {
			t.Errorf("requested %v, want [%s]", got, urlA)
		}
	})
}

func TestProbeTimeout(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		want     time.Duration
	}{
		{name: "short interval uses floor", interval: 100 * time.Millisecond, want: minProbeTimeout},
		{name: "floor", interval: minProbeTimeout, want: minProbeTimeout},
		{name: "long interval", interval: 4 * time.Second, want: 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := probeTimeout(tt.interval); got != tt.want {
				t.Fatalf("probeTimeout(%v) = %v, want %v", tt.interval, got, tt.want)
			}
			synctest.Test(t, func(t *testing.T) {
				f := newFakeTransport()
				f.route(urlA, hangHandler())
				p := NewProber(f)
				defer p.RemoveAll()
				s := addProbe(t, p, "1", tt.interval, urlA)

				advance(tt.interval + tt.want - 1)
				checkStatus(t, s, 0, 0, false)
				advance(1)
				checkStatus(t, s, 1, 1, false)
				if !errors.Is(s.Err(), context.DeadlineExceeded) {
					t.Errorf("Err() = %v, want DeadlineExceeded", s.Err())
				}
			})
		})
	}
}

func TestRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTransport()
		f.route(urlA, NewHandler())
		p := NewProber(f)
		defer p.RemoveAll()
		s := addProbe(t, p, "1", time.Second, urlA)
		other := addProbe(t, p, "2", time.Second, urlA)
		advance(2 * time.Second)

		if err := p.Remove("1"); err != nil {
			t.Fatalf("Remove = %v", err)
		}
		if !isClosed(s.StopNotify()) {
			t.Fatal("StopNotify not closed when Remove returned")
		}
		if isClosed(other.StopNotify()) {
			t.Fatal("Remove stopped another id")
		}
		if _, err := p.Status("1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Status after Remove = %v, want ErrNotFound", err)
		}
		if err := p.Remove("1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Remove = %v, want ErrNotFound", err)
		}
		advance(10 * time.Second)
		checkStatus(t, s, 2, 0, true) // frozen, still readable
		checkStatus(t, other, 12, 0, true)
	})
}

func TestRemoveAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTransport()
		f.route(urlA, NewHandler())
		p := NewProber(f)
		var statuses []Status
		for i := range 3 {
			statuses = append(statuses, addProbe(t, p, fmt.Sprint(i), time.Second, urlA))
		}
		advance(time.Second)

		p.RemoveAll()
		for i, s := range statuses {
			if !isClosed(s.StopNotify()) {
				t.Errorf("id %d: StopNotify not closed", i)
			}
		}
		sent := len(f.urls())
		advance(10 * time.Second)
		if got := len(f.urls()); got != sent {
			t.Errorf("%d requests after RemoveAll, want none", got-sent)
		}
		p.RemoveAll() // idempotent on an empty prober

		s := addProbe(t, p, "0", time.Second, urlA) // still usable
		advance(time.Second)
		checkStatus(t, s, 1, 0, true)
		p.RemoveAll()
	})
}

func TestRemoveDuringProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTransport()
		f.route(urlA, hangHandler())
		p := NewProber(f)
		defer p.RemoveAll()
		s := addProbe(t, p, "1", 10*time.Second, urlA)
		advance(11 * time.Second) // the probe is now blocked in the handler

		start := time.Now()
		if err := p.Remove("1"); err != nil {
			t.Fatalf("Remove = %v", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("Remove took %v of fake time, want 0", d)
		}
		if !isClosed(s.StopNotify()) {
			t.Error("StopNotify not closed")
		}
		checkStatus(t, s, 0, 0, false) // the aborted probe is not counted
	})
}

func TestReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTransport()
		f.route(urlB, NewHandler())
		f.setLatency(10 * time.Millisecond)
		p := NewProber(f)
		defer p.RemoveAll()
		s := addProbe(t, p, "1", time.Second, urlA, urlB)
		advance(2*time.Second + 10*time.Millisecond)
		checkStatus(t, s, 2, 1, true)

		if err := p.Reset("1"); err != nil {
			t.Fatalf("Reset = %v", err)
		}
		checkStatus(t, s, 0, 0, false)
		if s.SRTT() != 0 || s.ClockDiff() != 0 || s.Err() != nil {
			t.Errorf("after Reset: srtt=%v clockdiff=%v err=%v, want zeros", s.SRTT(), s.ClockDiff(), s.Err())
		}
		advance(time.Second)
		checkStatus(t, s, 1, 0, true) // the loop keeps going
	})
}

func TestProberErrors(t *testing.T) {
	tests := []struct {
		name string
		call func(Prober) error
		want error // nil: any non-nil error
	}{
		{name: "add existing", call: func(p Prober) error { return p.AddHTTP("x", time.Second, []string{urlA}) }, want: ErrExist},
		{name: "add nil endpoints", call: func(p Prober) error { return p.AddHTTP("y", time.Second, nil) }, want: ErrNoEndpoints},
		{name: "add empty endpoints", call: func(p Prober) error { return p.AddHTTP("y", time.Second, []string{}) }, want: ErrNoEndpoints},
		{name: "add zero interval", call: func(p Prober) error { return p.AddHTTP("y", 0, []string{urlA}) }, want: ErrInvalidInterval},
		{name: "add negative interval", call: func(p Prober) error { return p.AddHTTP("y", -time.Second, []string{urlA}) }, want: ErrInvalidInterval},
		{name: "add bad url", call: func(p Prober) error { return p.AddHTTP("y", time.Second, []string{urlA, "http://a b\x7f"}) }},
		{name: "remove unknown", call: func(p Prober) error { return p.Remove("y") }, want: ErrNotFound},
		{name: "reset unknown", call: func(p Prober) error { return p.Reset("y") }, want: ErrNotFound},
		{name: "status unknown", call: func(p Prober) error { _, err := p.Status("y"); return err }, want: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProber(newFakeTransport())
			defer p.RemoveAll()
			if err := p.AddHTTP("x", time.Hour, []string{urlA}); err != nil {
				t.Fatal(err)
			}
			err := tt.call(p)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if _, err := p.Status("y"); !errors.Is(err, ErrNotFound) {
				t.Errorf("failed call registered id y")
			}
		})
	}
}

func TestNewProberNilTransport(t *testing.T) {
	p := NewProber(nil).(*prober)
	if p.tr != http.DefaultTransport {
		t.Errorf("transport = %T, want http.DefaultTransport", p.tr)
	}
}

// checkStatus fails the test unless s has the given counters and health.
func checkStatus(t *testing.T, s Status, total, loss int64, health bool) {
	t.Helper()
	if s.Total() != total || s.Loss() != loss || s.Health() != health {
		t.Errorf("total=%d loss=%d health=%v, want %d %d %v (err %v)",
			s.Total(), s.Loss(), s.Health(), total, loss, health, s.Err())
	}
}
