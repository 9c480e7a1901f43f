package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestArgs(t *testing.T) {
	c, err := New(Options{Binary: "raftexample", Dir: t.TempDir(), Size: 3, SnapshotCount: 7})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Reserve()
	if err != nil || id != 4 {
		t.Fatalf("Reserve = %d, %v; want 4", id, err)
	}
	tests := []struct {
		id       uint64
		urls     int
		wantJoin bool
	}{
		{id: 1, urls: 3},
		{id: 3, urls: 3},
		{id: 4, urls: 4, wantJoin: true},
	}
	for _, tt := range tests {
		args := c.argsLocked(c.members[tt.id-1])
		i := slices.Index(args, "--cluster")
		if got := strings.Count(args[i+1], ",") + 1; got != tt.urls {
			t.Errorf("member %d: --cluster lists %d URLs, want %d", tt.id, got, tt.urls)
		}
		if got := slices.Contains(args, "--join"); got != tt.wantJoin {
			t.Errorf("member %d: --join = %v, want %v", tt.id, got, tt.wantJoin)
		}
		if !slices.Contains(args, "7") {
			t.Errorf("member %d: args %v lack --snapshot-count 7", tt.id, args)
		}
	}
	seen := map[string]bool{}
	for id := uint64(1); id <= 4; id++ {
		u := c.PeerURL(id)
		if seen[u] || seen[c.Client(id).URL()] {
			t.Errorf("member %d reuses a port: %s %s", id, u, c.Client(id).URL())
		}
		seen[u], seen[c.Client(id).URL()] = true, true
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestHostAndCommandPrefix(t *testing.T) {
	c, err := New(Options{
		Binary: "raftexample", Dir: t.TempDir(), Size: 2,
		Host:          func(id uint64) string { return fmt.Sprintf("10.0.0.%d", id) },
		CommandPrefix: func(id uint64) []string { return []string{"ip", "netns", "exec", fmt.Sprintf("ns%d", id)} },
	})
	if err != nil {
		t.Fatal(err)
	}
	if u := c.PeerURL(2); !strings.HasPrefix(u, "http://10.0.0.2:") {
		t.Errorf("PeerURL(2) = %s, want host 10.0.0.2", u)
	}
	if u := c.Client(2).URL(); !strings.HasPrefix(u, "http://10.0.0.2:") {
		t.Errorf("Client(2).URL() = %s, want host 10.0.0.2", u)
	}
	cmd := c.commandLocked(c.members[1])
	if want := []string{"ip", "netns", "exec", "ns2", "raftexample", "--id", "2"}; !slices.Equal(cmd.Args[:len(want)], want) {
		t.Errorf("command line %q, want it to start with %q", cmd.Args, want)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRetry(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case n < 3:
			http.Error(w, "no leader", http.StatusServiceUnavailable)
		case r.URL.Path == "/bad":
			http.Error(w, "empty key", http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	cl := &Client{base: srv.URL, hc: srv.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Retry(ctx, func(ctx context.Context) error { return cl.Put(ctx, "k", nil) }); err != nil {
		t.Fatalf("Retry = %v after %d calls, want success on the third", err, calls.Load())
	}
	err := Retry(ctx, func(ctx context.Context) error { return cl.Put(ctx, "bad", nil) })
	if he, ok := errors.AsType[*HTTPError](err); !ok || he.Code != http.StatusBadRequest {
		t.Fatalf("Retry = %v, want the 400 without retrying", err)
	}
}
