package probing

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// healthBody matches the exact bytes etcd serves: two capitalised fields, an
// RFC 3339 time with optional fraction and zone, and a trailing newline.
var healthBody = regexp.MustCompile(`^\{"OK":true,"Now":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"\}\n$`)

func TestHandler(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			rec := httptest.NewRecorder()
			NewHandler().ServeHTTP(rec, httptest.NewRequest(method, "/raft/probing", strings.NewReader("ignored")))
			after := time.Now()

			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			body := rec.Body.String()
			if !healthBody.MatchString(body) {
				t.Fatalf("body = %q, not in the etcd format", body)
			}
			var h Health
			if err := json.Unmarshal([]byte(body), &h); err != nil {
				t.Fatal(err)
			}
			if !h.OK || h.Now.Before(before) || h.Now.After(after) {
				t.Errorf("health = %+v, want OK and a time in [%v, %v]", h, before, after)
			}
		})
	}
}

func TestHandlerOverHTTP(t *testing.T) {
	srv := httptest.NewServer(NewHandler())
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			req, err := http.NewRequest(method, srv.URL+"/raft/probing", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q, want the sniffed text/plain; charset=utf-8", ct)
			}
			if !healthBody.Match(body) {
				t.Errorf("body = %q, not in the etcd format", body)
			}
		})
	}
}

func TestHandlerWithClock(t *testing.T) {
	shifted := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	rec := httptest.NewRecorder()
	NewHandlerWithClock(func() time.Time { return shifted }).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/raft/probing", nil))
	if want := "{\"OK\":true,\"Now\":\"2030-01-02T03:04:05.0000006Z\"}\n"; rec.Body.String() != want {
		t.Fatalf("body = %q, want %q", rec.Body.String(), want)
	}
	def := httptest.NewRecorder()
	NewHandler().ServeHTTP(def, httptest.NewRequest(http.MethodGet, "/raft/probing", nil))
	if !reflect.DeepEqual(rec.Header(), def.Header()) {
		t.Fatalf("headers = %v, want NewHandler's %v", rec.Header(), def.Header())
	}

	rec = httptest.NewRecorder()
	before := time.Now()
	NewHandlerWithClock(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/raft/probing", nil))
	var h Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || h.Now.Before(before) || !healthBody.MatchString(rec.Body.String()) {
		t.Fatalf("nil clock: body %q (%v), want the current time", rec.Body.String(), err)
	}
}
