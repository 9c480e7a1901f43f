package probing

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// errRefused is what fakeTransport returns for a URL with no route.
var errRefused = errors.New("fake: connection refused")

// fakeTransport is an in-process http.RoundTripper: it serves each request
// with the handler routed to its URL, after an optional simulated latency.
// It works inside synctest bubbles because it does no real I/O.
type fakeTransport struct {
	mu struct {
		sync.Mutex
		routes   map[string]http.Handler
		latency  time.Duration
		requests []*http.Request
		bodies   []*closeTracker
	}
}

func newFakeTransport() *fakeTransport {
	f := &fakeTransport{}
	f.mu.routes = make(map[string]http.Handler)
	return f
}

func (f *fakeTransport) route(url string, h http.Handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.routes[url] = h
}

func (f *fakeTransport) setLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.latency = d
}

// urls returns the URLs requested so far, in order.
func (f *fakeTransport) urls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.mu.requests))
	for _, r := range f.mu.requests {
		out = append(out, r.URL.String())
	}
	return out
}

func (f *fakeTransport) lastRequest() *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.mu.requests) == 0 {
		return nil
	}
	return f.mu.requests[len(f.mu.requests)-1]
}

// allBodiesClosed reports whether every response body handed out was closed.
func (f *fakeTransport) allBodiesClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.mu.bodies {
		if !b.isClosed() {
			return false
		}
	}
	return true
}

func (f *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.mu.requests = append(f.mu.requests, req)
	h, ok := f.mu.routes[req.URL.String()]
	latency := f.mu.latency
	f.mu.Unlock()
	if err := wait(req, latency); err != nil {
		return nil, err
	}
	if !ok {
		return nil, errRefused
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	body := &closeTracker{ReadCloser: resp.Body}
	resp.Body = body
	f.mu.Lock()
	f.mu.bodies = append(f.mu.bodies, body)
	f.mu.Unlock()
	return resp, nil
}

// wait simulates network latency, giving up when the request is cancelled.
func wait(req *http.Request, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-req.Context().Done():
		return req.Context().Err()
	}
}

// closeTracker records whether a response body was closed.
type closeTracker struct {
	io.ReadCloser
	mu     sync.Mutex
	closed bool
}

func (c *closeTracker) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.ReadCloser.Close()
}

func (c *closeTracker) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Handlers used as fake peers.

func statusHandler(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
	})
}

func bodyHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	})
}

// skewedHandler reports a remote clock that is skew ahead of the local one.
func skewedHandler(skew time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(Health{OK: true, Now: time.Now().Add(skew)})
	})
}

// hangHandler blocks until the request is cancelled.
func hangHandler() http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
}

// oversizedHandler sends a valid reply preceded by more padding than the
// prober is willing to decode.
func oversizedHandler() http.Handler {
	return bodyHandler(strings.Repeat(" ", maxReplySize) + `{"OK":true,"Now":"2000-01-01T00:00:00Z"}`)
}

// addProbe starts probing id on p and returns its Status.
func addProbe(t *testing.T, p Prober, id string, interval time.Duration, endpoints ...string) Status {
	t.Helper()
	if err := p.AddHTTP(id, interval, endpoints); err != nil {
		t.Fatalf("AddHTTP(%q) = %v", id, err)
	}
	s, err := p.Status(id)
	if err != nil {
		t.Fatalf("Status(%q) = %v", id, err)
	}
	return s
}

// advance moves the bubble's fake clock by d and lets every goroutine settle.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// isClosed reports whether c is closed without blocking.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
