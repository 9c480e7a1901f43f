package interop

import (
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Paths as they appear on the wire. They are spelled out here rather than
// taken from either implementation, so the tap checks both against the
// protocol itself.
const (
	pathPipeline     = "/raft"
	pathSnapshot     = "/raft/snapshot"
	pathProbing      = "/raft/probing"
	pathStreamPrefix = "/raft/stream/"
	dirStreamMessage = "/raft/stream/message"
	dirStreamMsgApp  = "/raft/stream/msgapp"
)

// Bounds on what the tap keeps of a non-stream response body and of a
// pipeline request body.
const (
	maxBodyCapture    = 1024
	maxReqBodyCapture = 1 << 20
)

// streamKind names one of the two stream encodings.
type streamKind int

const (
	streamMessage streamKind = iota
	streamMsgAppV2
)

// String names the stream as the protocol does.
func (k streamKind) String() string {
	if k == streamMsgAppV2 {
		return "msgappv2"
	}
	return "message"
}

// streamKindOf maps a request path to the stream it opens.
func streamKindOf(p string) (streamKind, bool) {
	switch path.Dir(p) {
	case dirStreamMessage:
		return streamMessage, true
	case dirStreamMsgApp:
		return streamMsgAppV2, true
	}
	return 0, false
}

// requestRecord is what the tap saw of one request and its response.
type requestRecord struct {
	method, path string
	header       http.Header
	// contentLength and transferEncoding describe the request body framing.
	contentLength    int64
	transferEncoding []string
	// reqBody holds the start of a pipeline POST body.
	reqBody []byte
	// respHeader is what the handler had set when it wrote the status;
	// the server adds framing headers and Date later.
	respHeader http.Header
	// refused is set when the tap answered a stream request itself.
	refused bool
	// status is 0 until the handler writes the response header.
	status int
	// finished is set once the handler has returned: body is then whole.
	finished bool
	// body holds the start of a response that is not a working stream.
	body []byte
	// parser decodes the body of a 200 stream response.
	parser *frameParser
}

// from returns the peer ID named by a stream request path, or 0.
func (r *requestRecord) from() uint64 {
	id, err := strconv.ParseUint(path.Base(r.path), 16, 64)
	if err != nil {
		return 0
	}
	return id
}

// tap sits in front of a member's handler. It records every request and
// the status and body of every response, decodes the frames written to
// stream responses, and can refuse stream requests (the "gate").
type tap struct {
	handler      atomic.Pointer[http.Handler]
	blockStreams atomic.Bool

	mu   sync.Mutex
	reqs []*requestRecord
}

// setHandler installs the member's handler; requests before that get 503.
func (t *tap) setHandler(h http.Handler) { t.handler.Store(&h) }

// ServeHTTP records r, then refuses it if it is a stream request and the
// gate is closed, or passes it on.
func (t *tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &requestRecord{
		method: r.Method, path: r.URL.Path, header: r.Header.Clone(),
		contentLength: r.ContentLength, transferEncoding: slices.Clone(r.TransferEncoding),
	}
	t.mu.Lock()
	t.reqs = append(t.reqs, rec)
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		rec.finished = true
		t.mu.Unlock()
	}()
	if r.Method == http.MethodPost && r.URL.Path == pathPipeline {
		r.Body = &recordingBody{ReadCloser: r.Body, tap: t, rec: rec}
	}
	rw := &recordingWriter{ResponseWriter: w, tap: t, rec: rec}
	if strings.HasPrefix(r.URL.Path, pathStreamPrefix) && t.blockStreams.Load() {
		t.mu.Lock()
		rec.refused = true
		t.mu.Unlock()
		refuseStream(rw)
		return
	}
	h := t.handler.Load()
	if h == nil {
		http.Error(rw, "member not started", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(rw, r)
}

// refuseStream answers a stream request the way a member that does not
// know the dialer yet answers it. The X-Server-Version header matters:
// without it both implementations read the reply as coming from a peer too
// old for streams, and etcd then leaves the peer's status unchanged instead
// of marking it inactive.
func refuseStream(w http.ResponseWriter) {
	w.Header().Set("X-Server-Version", "3.7.3")
	http.Error(w, "error sender not found", http.StatusNotFound)
}

// matching returns copies of the records that satisfy keep, oldest first.
// The copies carry no parser.
func (t *tap) matching(keep func(*requestRecord) bool) []requestRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []requestRecord
	for _, r := range t.reqs {
		if keep(r) {
			c := *r
			c.parser = nil
			c.body = slices.Clone(r.body)
			c.reqBody = slices.Clone(r.reqBody)
			out = append(out, c)
		}
	}
	return out
}

// count returns how many requests with this method and path were seen;
// status 0 matches any status, including none yet.
func (t *tap) count(method, p string, status int) int {
	return len(t.matching(func(r *requestRecord) bool {
		return r.method == method && r.path == p && (status == 0 || r.status == status)
	}))
}

// postedMessages decodes the body of every pipeline POST and returns the
// messages that are not probes.
func (t *tap) postedMessages() []*raftpb.Message {
	var out []*raftpb.Message
	for _, r := range t.matching(func(r *requestRecord) bool {
		return r.method == http.MethodPost && r.path == pathPipeline
	}) {
		m := &raftpb.Message{}
		if proto.Unmarshal(r.reqBody, m) == nil && !isProbe(m) {
			out = append(out, m)
		}
	}
	return out
}

// posted reports whether a pipeline POST carried m.
func (t *tap) posted(m *raftpb.Message) bool {
	return len(t.matching(func(r *requestRecord) bool {
		return r.method == http.MethodPost && r.path == pathPipeline && decodesTo(r.reqBody, m)
	})) > 0
}

// streamResponses returns the stream requests of kind from peer that were
// answered with status (any answered status if 0), excluding refused ones.
// A 200 counts once written, since the stream goes on; any other answer
// only once its handler returned, so that its body is whole.
func (t *tap) streamResponses(kind streamKind, from uint64, status int) []requestRecord {
	return t.matching(func(r *requestRecord) bool {
		k, ok := streamKindOf(r.path)
		answered := r.status == http.StatusOK || (r.status != 0 && r.finished)
		return ok && k == kind && r.from() == from && !r.refused && answered &&
			(status == 0 || r.status == status)
	})
}

// records returns, in order, every non-heartbeat record written to 200
// stream responses of kind for peer from.
func (t *tap) records(kind streamKind, from uint64) []wireRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []wireRecord
	for _, r := range t.reqs {
		if r.parser != nil && r.parser.kind == kind && r.from() == from {
			out = append(out, r.parser.records...)
		}
	}
	return out
}

// parseError returns the first decoding error of any stream, or nil.
func (t *tap) parseError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.reqs {
		if r.parser != nil && r.parser.err != nil {
			return r.parser.err
		}
	}
	return nil
}

// sawCommit reports whether a record with this commit index went out on a
// stream of kind for peer from.
func (t *tap) sawCommit(kind streamKind, from, commit uint64) bool {
	for _, rec := range t.records(kind, from) {
		if rec.commitIndex() == commit {
			return true
		}
	}
	return false
}

// recordingWriter passes a response through while recording its status and
// body. It exposes Flush, FlushError and Unwrap so that both etcd's handler
// (which asserts http.Flusher) and ours (http.ResponseController) reach the
// real connection.
type recordingWriter struct {
	http.ResponseWriter
	tap *tap
	rec *requestRecord
}

// WriteHeader records the status; a 200 on a stream path starts decoding.
func (w *recordingWriter) WriteHeader(code int) {
	w.tap.mu.Lock()
	if w.rec.status == 0 {
		w.rec.status = code
		w.rec.respHeader = w.Header().Clone()
		if k, ok := streamKindOf(w.rec.path); ok && code == http.StatusOK && !w.rec.refused {
			w.rec.parser = &frameParser{kind: k}
		}
	}
	w.tap.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

// Write records b before writing it, so a record is visible by the time
// the peer can have read it.
func (w *recordingWriter) Write(b []byte) (int, error) {
	w.tap.mu.Lock()
	implicit := w.rec.status == 0
	w.tap.mu.Unlock()
	if implicit {
		w.WriteHeader(http.StatusOK)
	}
	w.tap.mu.Lock()
	if w.rec.parser != nil {
		w.rec.parser.feed(b)
	} else if room := maxBodyCapture - len(w.rec.body); room > 0 {
		w.rec.body = append(w.rec.body, b[:min(room, len(b))]...)
	}
	w.tap.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

// FlushError flushes the underlying response and reports failures.
func (w *recordingWriter) FlushError() error {
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *recordingWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach deadlines on the connection.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recordingBody keeps a copy of what the handler reads from a request body.
type recordingBody struct {
	io.ReadCloser
	tap *tap
	rec *requestRecord
}

// Read records the bytes read, up to maxReqBodyCapture.
func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.tap.mu.Lock()
	if room := maxReqBodyCapture - len(b.rec.reqBody); room > 0 {
		b.rec.reqBody = append(b.rec.reqBody, p[:min(room, n)]...)
	}
	b.tap.mu.Unlock()
	return n, err
}
