package kv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testCluster is a cluster of in-process members on loopback.
type testCluster struct {
	t       *testing.T
	peers   []string
	clients []string // client base URLs
	dirs    []string
	nodes   []*Node
	hc      *http.Client
	snapCnt uint64
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// newTestCluster starts size members with fast ticks.
func newTestCluster(t *testing.T, size int, snapshotCount uint64) *testCluster {
	t.Helper()
	c := &testCluster{t: t, hc: &http.Client{Timeout: 10 * time.Second}, snapCnt: snapshotCount}
	var peerLns, clientLns []net.Listener
	for range size {
		pl, cl := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
		peerLns, clientLns = append(peerLns, pl), append(clientLns, cl)
		c.peers = append(c.peers, "http://"+pl.Addr().String())
		c.clients = append(c.clients, "http://"+cl.Addr().String())
		c.dirs = append(c.dirs, t.TempDir())
	}
	c.nodes = make([]*Node, size)
	for i := range size {
		c.start(i, peerLns[i], clientLns[i])
	}
	t.Cleanup(c.stopAll)
	return c
}

// start starts member i+1 on the given listeners (nil: listen again on its
// addresses).
func (c *testCluster) start(i int, peerLn, clientLn net.Listener) {
	c.t.Helper()
	if peerLn == nil {
		peerLn = listen(c.t, strings.TrimPrefix(c.peers[i], "http://"))
		clientLn = listen(c.t, strings.TrimPrefix(c.clients[i], "http://"))
	}
	n, err := Start(Config{
		ID: uint64(i + 1), Peers: c.peers, DataDir: c.dirs[i],
		PeerListener: peerLn, ClientListener: clientLn,
		TickInterval: 10 * time.Millisecond, SnapshotCount: c.snapCnt,
	})
	if err != nil {
		c.t.Fatalf("Start member %d: %v", i+1, err)
	}
	c.nodes[i] = n
}

func (c *testCluster) stop(i int) {
	c.t.Helper()
	if err := c.nodes[i].Stop(); err != nil {
		c.t.Errorf("Stop member %d: %v", i+1, err)
	}
}

func (c *testCluster) stopAll() {
	for i := range c.nodes {
		c.stop(i)
	}
	c.hc.CloseIdleConnections()
}

// do sends a request to member i+1 and returns the status code and body.
func (c *testCluster) do(i int, method, path string, body io.Reader) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.clients[i]+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// put writes through member i+1, retrying while there is no leader.
func (c *testCluster) put(i int, key, value string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := c.do(i, http.MethodPut, "/"+key, strings.NewReader(value))
		if code == http.StatusNoContent {
			return
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			c.t.Fatalf("PUT /%s = %d %s", key, code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitConverged waits until every member has applied the same index.
func (c *testCluster) waitConverged() uint64 {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		first := c.nodes[0].Status().AppliedIndex
		same := true
		for _, n := range c.nodes[1:] {
			same = same && n.Status().AppliedIndex == first
		}
		if same && first > 0 {
			return first
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("members did not converge")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReplicationAndRestart(t *testing.T) {
	c := newTestCluster(t, 3, 20) // snapshots every 20 entries
	for i := range 50 {
		c.put(i%3, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	c.waitConverged()
	for i := range 3 {
		if code, body := c.do(i, http.MethodGet, "/k49", nil); code != 200 || body != "v49" {
			t.Fatalf("member %d: GET /k49 = %d %q", i+1, code, body)
		}
	}
	if s := c.nodes[0].Status(); s.SnapshotIndex == 0 || s.Snapshots.Created == 0 {
		t.Fatalf("no snapshot taken after 50 writes: %+v", s)
	}
	// Restart member 2 from its log and snapshot.
	c.stop(1)
	c.put(0, "while-down", "x")
	c.start(1, nil, nil)
	c.waitConverged()
	for _, key := range []string{"k0", "k25", "while-down"} {
		if code, _ := c.do(1, http.MethodGet, "/"+key, nil); code != 200 {
			t.Errorf("restarted member: GET /%s = %d", key, code)
		}
	}
}

func TestAPIRejectsBadInput(t *testing.T) {
	c := newTestCluster(t, 3, 0)
	c.put(0, "existing", "v")
	before := c.waitConverged()
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"empty key", http.MethodPut, "/", "v", http.StatusBadRequest},
		{"long key", http.MethodPut, "/" + strings.Repeat("k", MaxKeyBytes+1), "v", http.StatusBadRequest},
		{"value too large", http.MethodPut, "/big", strings.Repeat("v", MaxValueBytes+1), http.StatusRequestEntityTooLarge},
		{"missing key", http.MethodGet, "/absent", "", http.StatusNotFound},
		{"unknown method", http.MethodPatch, "/existing", "", http.StatusMethodNotAllowed},
		{"status is read-only", http.MethodPut, "/status", "v", http.StatusMethodNotAllowed},
		{"malformed member ID", http.MethodPost, "/abc", "http://127.0.0.1:9", http.StatusBadRequest},
		{"member ID zero", http.MethodDelete, "/0", "", http.StatusBadRequest},
		{"nested member path", http.MethodPost, "/4/5", "http://127.0.0.1:9", http.StatusBadRequest},
		{"malformed URL", http.MethodPost, "/4", "::not a url", http.StatusBadRequest},
		{"URL without port", http.MethodPost, "/4", "http://127.0.0.1", http.StatusBadRequest},
		{"URL with path", http.MethodPost, "/4", "http://127.0.0.1:9/x", http.StatusBadRequest},
		{"URL scheme", http.MethodPost, "/4", "ftp://127.0.0.1:9", http.StatusBadRequest},
		{"URL too long", http.MethodPost, "/4", "http://" + strings.Repeat("a", maxURLBytes), http.StatusRequestEntityTooLarge},
		{"existing member", http.MethodPost, "/2", "http://127.0.0.1:9", http.StatusConflict},
		{"URL in use", http.MethodPost, "/4", c.peers[1], http.StatusConflict},
		{"remove unknown member", http.MethodDelete, "/9", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := c.do(0, tt.method, tt.path, strings.NewReader(tt.body))
			if code != tt.want {
				t.Errorf("%s %.40s = %d %q, want %d", tt.method, tt.path, code, body, tt.want)
			}
		})
	}
	if after := c.waitConverged(); after != before {
		t.Errorf("applied index moved from %d to %d: a rejected request changed something", before, after)
	}
	if code, body := c.do(1, http.MethodGet, "/existing", nil); code != 200 || body != "v" {
		t.Errorf("GET /existing = %d %q", code, body)
	}
}

func TestStatusAndMetrics(t *testing.T) {
	c := newTestCluster(t, 3, 0)
	c.put(2, "k", "v")
	c.waitConverged()
	code, body := c.do(1, http.MethodGet, "/status", nil)
	var s Status
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil {
		t.Fatalf("GET /status = %d %q (%v)", code, body, err)
	}
	if s.ID != 2 || s.Leader == 0 || s.Keys != 1 || len(s.Peers) != 3 {
		t.Errorf("status = %+v", s)
	}
	code, body = c.do(0, http.MethodGet, "/metrics", nil)
	for _, want := range []string{"raftexample_applied_index", "etcd_network_peer_sent_bytes_total", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /metrics = %d, missing %s", code, want)
		}
	}
}

func TestMembershipChange(t *testing.T) {
	c := newTestCluster(t, 3, 10)
	for i := range 30 {
		c.put(0, fmt.Sprintf("k%d", i), "v")
	}
	// Member 4 joins after the log was compacted, so it needs a snapshot
	// whose ConfState includes it.
	pl, cl := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
	u4 := "http://" + pl.Addr().String()
	if code, body := c.do(0, http.MethodPost, "/4", strings.NewReader(u4)); code != http.StatusNoContent {
		t.Fatalf("POST /4 = %d %q", code, body)
	}
	c.peers, c.clients, c.dirs = append(c.peers, u4), append(c.clients, "http://"+cl.Addr().String()), append(c.dirs, t.TempDir())
	n4, err := Start(Config{ID: 4, Peers: c.peers, Join: true, DataDir: c.dirs[3], PeerListener: pl,
		ClientListener: cl, TickInterval: 10 * time.Millisecond, SnapshotCount: 10})
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, n4)
	c.put(1, "after-join", "v")
	c.waitConverged()
	if code, _ := c.do(3, http.MethodGet, "/k0", nil); code != 200 {
		t.Fatalf("member 4: GET /k0 = %d", code)
	}
	if s := n4.Status(); s.Snapshots.Received == 0 {
		t.Errorf("member 4 caught up without a snapshot: %+v", s.Snapshots)
	}
	if code, body := c.do(0, http.MethodDelete, "/4", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE /4 = %d %q", code, body)
	}
	select {
	case <-n4.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("member 4 still running after its removal")
	}
	if err := n4.Err(); err == nil {
		t.Errorf("member 4 Err = nil, want ErrRemoved")
	}
	c.put(2, "after-remove", "v")
	if code, _ := c.do(0, http.MethodPost, "/4", bytes.NewReader([]byte("http://127.0.0.1:9"))); code != http.StatusConflict {
		t.Errorf("re-adding removed ID 4 = %d, want 409", code)
	}
	c.nodes = c.nodes[:3]
	if err := n4.Stop(); err == nil {
		t.Errorf("member 4 Stop = nil, want ErrRemoved")
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{},
		{ID: 2, Peers: []string{"http://127.0.0.1:1"}, DataDir: dir, ClientAddr: "127.0.0.1:0"},
		{ID: 1, Peers: []string{"127.0.0.1:1"}, DataDir: dir, ClientAddr: "127.0.0.1:0"},
		{ID: 1, Peers: []string{"http://127.0.0.1:1"}, ClientAddr: "127.0.0.1:0"},
		{ID: 1, Peers: []string{"http://127.0.0.1:1"}, DataDir: dir},
	} {
		if n, err := Start(cfg); err == nil {
			_ = n.Stop()
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}
