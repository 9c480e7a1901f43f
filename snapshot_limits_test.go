package rafthttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/snap"
)

// stPattern yields n deterministic bytes without holding them, so tests
// can send DBs larger than the socket buffers.
type stPattern struct{ off, n int64 }

func (p *stPattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		v := p.off + int64(i)
		b[i] = byte(v*7 ^ v>>9)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// stPatternBytes returns the first n bytes stPattern yields.
func stPatternBytes(n int) []byte {
	b, _ := io.ReadAll(&stPattern{n: int64(n)})
	return b
}

// stSnapMessage is a MsgSnap at index carrying n pattern bytes.
func stSnapMessage(index uint64, n int64) *snap.Message {
	return snap.NewMessage(utSnapMsg(index), io.NopCloser(&stPattern{n: n}), n)
}

// stWithStall sets the snapshot stall timeout.
func stWithStall(d time.Duration) func(*Transport) {
	return func(tr *Transport) { tr.Limits.SnapshotStallTimeout = d }
}

// stServeListener serves tr's handler through NewServer on a
// NewListenerWithConfig listener with the given per-read timeout.
func stServeListener(t *testing.T, tr *Transport, readTimeout time.Duration) string {
	t.Helper()
	u := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	l, err := NewListenerWithConfig(u, nil, ListenerConfig{ReadTimeout: readTimeout, WriteTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(tr.Handler())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().String()
}

// stChunk writes p as one chunk of a chunked body.
func stChunk(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(p), p); err != nil {
		t.Fatal(err)
	}
}

// stStartSnapshotPost opens a connection to addr and sends the headers of
// a snapshot POST from member 2 and the envelope of a MsgSnap at index.
func stStartSnapshotPost(t *testing.T, addr string, index uint64) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\n%sTransfer-Encoding: chunked\r\n\r\n", RaftSnapshotPrefix, secHeaders("2"))
	m := utSnapMsg(index)
	m.From, m.To = m.To, m.From
	stChunk(t, c, utFrame(t, m))
	return c
}

// stReadStatus reads the reply on c within d.
func stReadStatus(t *testing.T, c net.Conn, d time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A sender that pauses for longer than the listener's per-read timeout,
// but less than the stall timeout, still gets its snapshot through.
func TestSnapshotReceiveOutlivesReadTimeout(t *testing.T) {
	dir := t.TempDir()
	b := startMember(t, 1, func(tr *Transport) {
		tr.Snapshotter = utSnapshotter(dir)
		stWithStall(3 * time.Second)(tr)
	})
	addr := stServeListener(t, b.tr, 100*time.Millisecond)
	c := stStartSnapshotPost(t, addr, 5)
	db := stPatternBytes(64 << 10)
	stChunk(t, c, db[:1000])
	time.Sleep(600 * time.Millisecond) // six per-read timeouts
	stChunk(t, c, db[1000:])
	io.WriteString(c, "0\r\n\r\n")
	if code := stReadStatus(t, c, 10*time.Second); code != http.StatusNoContent {
		t.Fatalf("status %d, want 204", code)
	}
	utCheckSavedDB(t, dir, 5, db)
}

// A sender that goes silent mid-body is given up on after the stall
// timeout, leaving no file.
func TestSnapshotReceiveGivesUpOnSilentSender(t *testing.T) {
	dir := t.TempDir()
	const stall = 300 * time.Millisecond
	b := startMember(t, 1, func(tr *Transport) {
		utWithRegistry(tr)
		tr.Snapshotter = utSnapshotter(dir)
		stWithStall(stall)(tr)
	})
	c := stStartSnapshotPost(t, b.srv.Listener.Addr().String(), 5)
	stChunk(t, c, stPatternBytes(1000))
	start := time.Now()
	if code := stReadStatus(t, c, 10*time.Second); code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", code)
	}
	if d := time.Since(start); d < stall {
		t.Errorf("gave up after %v, before the stall timeout %v", d, stall)
	}
	if files := utDirFiles(t, dir); len(files) != 0 {
		t.Errorf("snapshot dir holds %v after a stalled transfer", files)
	}
	waitFor(t, 5*time.Second, "snapshot_receive_failures{From=2}", func() bool {
		return utMetricValue(t, utGatherer(t, b), "etcd_network_snapshot_receive_failures", map[string]string{"From": "2"}) == 1
	})
}

// stReceiver is a peer that reads a snapshot POST's body through pause
// and then answers through answer.
func stReceiver(t *testing.T, pause func(r io.Reader), answer func(w http.ResponseWriter)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != RaftSnapshotPrefix {
			http.NotFound(w, r)
			return
		}
		pause(r.Body)
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		answer(w)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func stAnswerAfter(d time.Duration, done <-chan struct{}) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		select {
		case <-time.After(d):
			w.WriteHeader(http.StatusNoContent)
		case <-done:
		}
	}
}

func TestSnapshotSendIsLiveByProgress(t *testing.T) {
	// Margins of half a stall timeout or more either side of each
	// verdict, for a loaded machine.
	const stall = time.Second
	readSome := func(r io.Reader) { io.CopyN(io.Discard, r, 1<<20) }
	tests := []struct {
		name   string
		size   int64
		pause  func(r io.Reader, hang <-chan struct{})
		answer time.Duration
		stalls bool
	}{
		{name: "receiver pauses reading for longer than a write timeout", size: 32 << 20,
			pause: func(r io.Reader, _ <-chan struct{}) { readSome(r); time.Sleep(stall / 2) }},
		{name: "receiver stops reading", size: 32 << 20,
			pause: func(r io.Reader, hang <-chan struct{}) { readSome(r); <-hang }, stalls: true},
		// 16 MiB give the receiver stall + 2 s to answer.
		{name: "receiver syncs for longer than the stall timeout", size: 16 << 20, answer: 3 * stall / 2},
		{name: "receiver never answers", size: 1 << 20, answer: time.Hour, stalls: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := utNewFixture(t, func(tr *Transport) {
				stWithStall(stall)(tr)
				tr.ConnWriteTimeout = stall / 4
			})
			t.Cleanup(func() { closeIdle(f.env.snapshotRt) })
			hang := make(chan struct{})
			pause := func(r io.Reader) {
				if tt.pause != nil {
					tt.pause(r, hang)
				}
			}
			u := stReceiver(t, pause, stAnswerAfter(tt.answer, hang))
			t.Cleanup(func() { close(hang) }) // before the server closes
			s := utSnapshotSender(t, f, u)
			start := time.Now()
			err := s.post(context.Background(), stSnapMessage(3, tt.size))
			switch {
			case !tt.stalls && err != nil:
				t.Fatalf("post() = %v, want success", err)
			case tt.stalls && !errors.Is(err, errSnapshotStalled):
				t.Fatalf("post() = %v, want %v", err, errSnapshotStalled)
			case tt.stalls && time.Since(start) < stall:
				t.Errorf("gave up after %v, before the stall timeout", time.Since(start))
			}
		})
	}
}

func TestSnapshotAnswerAllowance(t *testing.T) {
	s := snapshotSettings{stallTimeout: 30 * time.Second}
	for _, tt := range []struct {
		size int64
		want time.Duration
	}{{0, 30 * time.Second}, {8 << 20, 31 * time.Second}, {4 << 30, 30*time.Second + 512*time.Second}, {-1, 30 * time.Second}} {
		if got := s.answerAllowance(tt.size); got != tt.want {
			t.Errorf("answerAllowance(%d) = %v, want %v", tt.size, got, tt.want)
		}
	}
	if got := newSnapshotSettings(Limits{}).stallTimeout; got != defaultSnapshotStallTimeout {
		t.Errorf("default stall timeout %v, want %v", got, defaultSnapshotStallTimeout)
	}
}

func TestCapBurst(t *testing.T) {
	for _, tt := range []struct {
		rate int64
		want int
	}{{1000, 1 << 10}, {1 << 30, 256 << 10}, {20 << 20, 20 << 20 / 2000}} {
		if got := capBurst(tt.rate); got != tt.want {
			t.Errorf("capBurst(%d) = %d, want %d", tt.rate, got, tt.want)
		}
	}
	if newByteCap(0) != nil {
		t.Error("a zero rate made a limiter")
	}
}

// The send cap is shared: two uploads to two peers together take at
// least as long as their bytes need at the capped rate.
func TestSnapshotSendCapIsShared(t *testing.T) {
	const rate, size = 4 << 20, 1 << 20
	f := utNewFixture(t, func(tr *Transport) { tr.Limits.SnapshotSendBytesPerSecond = rate })
	t.Cleanup(func() { closeIdle(f.env.snapshotRt) })
	answer := func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }
	senders := []*snapshotSender{
		utSnapshotSender(t, f, stReceiver(t, func(io.Reader) {}, answer)),
		utSnapshotSender(t, f, stReceiver(t, func(io.Reader) {}, answer)),
	}
	start := time.Now()
	errs := make(chan error, len(senders))
	for _, s := range senders {
		go func() { errs <- s.post(context.Background(), stSnapMessage(3, size)) }()
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The limiter starts with one burst in hand.
	if min := time.Duration(float64(2*size-capBurst(rate)) / rate * float64(time.Second)); time.Since(start) < min {
		t.Errorf("two capped uploads of %d bytes took %v, want at least %v", size, time.Since(start), min)
	}
}

// The receive cap paces a sender that has none.
func TestSnapshotReceiveCap(t *testing.T) {
	const rate, size = 4 << 20, 2 << 20
	a := startMember(t, 1, nil)
	dir := t.TempDir()
	b := startMember(t, 2, func(tr *Transport) {
		tr.Snapshotter = utSnapshotter(dir)
		tr.Limits.SnapshotReceiveBytesPerSecond = rate
	})
	connect(t, a, b)
	sm := stSnapMessage(9, size)
	start := time.Now()
	a.tr.SendSnapshot(sm)
	if !utWaitCloseNotify(t, sm, 20*time.Second) {
		t.Fatal("capped snapshot failed")
	}
	if min := time.Duration(float64(size-capBurst(rate)) / rate * float64(time.Second)); time.Since(start) < min {
		t.Errorf("a capped receive of %d bytes took %v, want at least %v", size, time.Since(start), min)
	}
	utCheckSavedDB(t, dir, 9, stPatternBytes(size))
}
