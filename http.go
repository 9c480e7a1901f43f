package rafthttp

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"net/http"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/probing"
	"github.com/rafthttp/rafthttp/types"
)

// Handler returns the HTTP handler for peer requests. Mount it so that
// every path under RaftPrefix reaches it. Requests that arrive before Start
// or after Stop are answered 503.
func (t *Transport) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(RaftPrefix, &pipelineHandler{t: t})
	mux.Handle(RaftStreamPrefix+"/", &streamHandler{t: t})
	mux.Handle(RaftSnapshotPrefix, &snapshotHandler{t: t})
	mux.Handle(snapshotOfferPath, &snapshotOfferHandler{t: t})
	mux.Handle(ProbingPrefix, probing.NewHandler())
	return mux
}

// errorWriter is implemented by errors from Raft.Process that know which
// HTTP reply they deserve. Both shapes are accepted: etcd's rafthttp
// expects the first, while etcd's own HTTPError has the second.
type errorWriter interface {
	error
	WriteTo(w http.ResponseWriter)
}

type errorWriterWithResult interface {
	error
	WriteTo(w http.ResponseWriter) error
}

// writeProcessError lets err write its own reply if it can.
func writeProcessError(w http.ResponseWriter, err error) bool {
	if ew, ok := errors.AsType[errorWriter](err); ok {
		ew.WriteTo(w)
		return true
	}
	if ew, ok := errors.AsType[errorWriterWithResult](err); ok {
		_ = ew.WriteTo(w)
		return true
	}
	return false
}

// checkMethod answers 405 unless r uses method.
func checkMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set(hdrAllow, method)
	http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	return false
}

// acceptRequest does what every POST handler does first; it returns nil
// when the request has been answered. With VerifyPeerIdentity set, it also
// returns the sender's verified member ID, which the message's From must
// then equal; otherwise that ID is 0.
func (t *Transport) acceptRequest(w http.ResponseWriter, r *http.Request, endpoint string) (*env, types.ID) {
	e := t.handlerEnv()
	if e == nil {
		http.Error(w, ErrStopped.Error(), http.StatusServiceUnavailable)
		return nil, 0
	}
	w.Header().Set(hdrClusterID, e.cluster.String())
	if err := e.checkCompatibility(r.Header); err != nil {
		http.Error(w, err.Error(), http.StatusPreconditionFailed)
		return nil, 0
	}
	verified, ok := e.verifySender(w, r, endpoint)
	if !ok {
		return nil, 0
	}
	if from, err := types.IDFromString(r.Header.Get(hdrServerFrom)); err == nil {
		t.learnRemote(e, from, r.Header.Get(hdrPeerURLs))
	}
	return e, verified
}

// learnRemote adds a sender we do not know yet, from the X-PeerURLs it
// sent, so we can answer it through a pipeline. Limits.MaxRemotes bounds
// how many remotes requests can make us run.
func (t *Transport) learnRemote(e *env, from types.ID, peerURLs string) {
	urls := splitPeerURLs(peerURLs)
	if len(urls) == 0 {
		return
	}
	if limit := e.guard.maxRemotes; limit > 0 {
		t.mu.RLock()
		n := len(t.remotes)
		t.mu.RUnlock()
		if n >= limit {
			e.lg.Debug("ignored remote peer from request; MaxRemotes reached",
				zap.Stringer("remote-peer-id", from), zap.Int("max-remotes", limit))
			return
		}
	}
	t.AddRemote(from, urls)
}

// senderLabel names the sender of a failed request in metrics: its member
// ID when it sent one, else its IP address. etcd uses ip:port, which gives
// every connection a new time series.
func (e *env) senderLabel(r *http.Request) string {
	if id, err := types.IDFromString(r.Header.Get(hdrServerFrom)); err == nil {
		return e.guard.labels.admit(id.String())
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return e.guard.labels.admit(host)
	}
	return e.guard.labels.admit(r.RemoteAddr)
}

// fromLabel is the metric label of a member ID a peer sent us.
func (e *env) fromLabel(id types.ID) string {
	return e.guard.labels.admit(id.String())
}

// pipelineHandler receives single messages POSTed to RaftPrefix.
type pipelineHandler struct{ t *Transport }

func (h *pipelineHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !checkMethod(w, r, http.MethodPost) {
		return
	}
	e, verified := h.t.acceptRequest(w, r, endpointPipeline)
	if e == nil {
		return
	}
	m, n, ok := readPipelineMessage(w, r, e)
	if !ok || !e.checkMessageSender(w, r, endpointPipeline, verified, types.ID(m.GetFrom())) {
		return
	}
	e.metrics.receivedBytes.WithLabelValues(e.fromLabel(types.ID(m.GetFrom()))).Add(float64(n))
	if err := e.raft.Process(r.Context(), m); err != nil {
		if writeProcessError(w, err) {
			return
		}
		e.lg.Warn("failed to process Raft message", zap.Error(err))
		// etcd panics here to break the connection; closing it is enough.
		w.Header().Set("Connection", "close")
		http.Error(w, "error processing raft message", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readPipelineMessage reads and decodes a pipeline body and returns the
// message and the body's length, or answers 400 or 413 and returns false.
func readPipelineMessage(w http.ResponseWriter, r *http.Request, e *env) (*raftpb.Message, int, bool) {
	body, err := readLimited(r.Body, r.ContentLength, e.cfg.maxMessageBytes)
	if err != nil {
		e.lg.Warn("failed to read Raft message", zap.Error(err))
		code, text := http.StatusBadRequest, "error reading raft message"
		if errors.Is(err, ErrExceedSizeLimit) {
			code, text = http.StatusRequestEntityTooLarge, ErrExceedSizeLimit.Error()
		}
		http.Error(w, text, code)
		e.metrics.recvFailures.WithLabelValues(e.senderLabel(r)).Inc()
		return nil, 0, false
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(body, m); err != nil {
		e.lg.Warn("failed to unmarshal Raft message", zap.Error(err))
		http.Error(w, "error unmarshalling raft message", http.StatusBadRequest)
		e.metrics.recvFailures.WithLabelValues(e.senderLabel(r)).Inc()
		return nil, 0, false
	}
	return m, len(body), true
}

// readLimited reads all of r, refusing more than limit bytes. The declared
// length only sizes the first allocation, within reason.
func readLimited(r io.Reader, declared int64, limit uint64) ([]byte, error) {
	const maxPrealloc = 1 << 20
	var buf bytes.Buffer
	if declared > 0 {
		buf.Grow(int(min(declared, maxPrealloc, int64(limit))))
	}
	n, err := buf.ReadFrom(io.LimitReader(r, int64(min(limit, math.MaxInt64-1))+1))
	if err != nil {
		return nil, err
	}
	if uint64(n) > limit {
		return nil, ErrExceedSizeLimit
	}
	return buf.Bytes(), nil
}
