package rafthttptest

import (
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/types"
)

// streamKey names a stream a member serves: the member `from` dialled it
// to receive our messages of kind `kind` ("message" or "msgapp").
type streamKey struct {
	kind string
	from types.ID
}

// streamTracker wraps a member's handler and counts the stream responses
// it is serving, as seen from outside the Transport.
type streamTracker struct {
	next http.Handler

	mu     sync.Mutex
	active map[streamKey]int
}

func newStreamTracker(next http.Handler) *streamTracker {
	return &streamTracker{next: next, active: make(map[streamKey]int)}
}

func (s *streamTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, rafthttp.RaftStreamPrefix+"/") {
		s.next.ServeHTTP(w, r)
		return
	}
	from, err := types.IDFromString(path.Base(r.URL.Path))
	if err != nil {
		s.next.ServeHTTP(w, r)
		return
	}
	key := streamKey{kind: path.Base(path.Dir(r.URL.Path)), from: from}
	sw := &statusWriter{ResponseWriter: w, onOK: func() { s.add(key, 1) }}
	s.next.ServeHTTP(sw, r)
	if sw.ok {
		s.add(key, -1)
	}
}

func (s *streamTracker) add(k streamKey, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active[k] += d
}

// serving reports whether both stream kinds from `from` are being served.
func (s *streamTracker) serving(from types.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active[streamKey{"message", from}] > 0 && s.active[streamKey{"msgapp", from}] > 0
}

// servingAny reports whether any stream kind from `from` is being served.
func (s *streamTracker) servingAny(from types.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active[streamKey{"message", from}] > 0 || s.active[streamKey{"msgapp", from}] > 0
}

// statusWriter notices a 200 answer.
type statusWriter struct {
	http.ResponseWriter
	onOK func()
	ok   bool
}

func (w *statusWriter) WriteHeader(code int) {
	if code == http.StatusOK && !w.ok {
		w.ok = true
		w.onOK()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer's Flush and
// deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
