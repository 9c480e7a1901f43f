package rafthttp

import (
	"context"
	"net/http"
	"path"
	"time"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// streamHandler accepts the long-lived GETs a peer opens to receive our
// messages, and hands each response to the peer's stream writer.
type streamHandler struct{ t *Transport }

func (h *streamHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !checkMethod(w, r, http.MethodGet) {
		return
	}
	e := h.t.handlerEnv()
	if e == nil {
		http.Error(w, ErrStopped.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set(hdrServerVersion, e.cfg.serverVersion)
	w.Header().Set(hdrClusterID, e.cluster.String())
	if err := e.checkCompatibility(r.Header); err != nil {
		http.Error(w, err.Error(), http.StatusPreconditionFailed)
		return
	}
	p, typ, from, ok := h.resolve(w, r, e)
	if !ok {
		return
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	// The request is fully read and the peer never sends on this
	// connection again, so a per-read timeout would only cut a healthy
	// stream; what matters is noticing when the peer closes it.
	_ = rc.SetReadDeadline(time.Now().Add(streamReadDeadline))
	conn := newOutgoingConn(typ, e.local, from, w, e.cfg.writeTimeout, e.streamBufs)
	p.attachOutgoingConn(conn)
	waitStreamEnd(r.Context(), conn)
}

// streamReadDeadline is how far ahead a stream connection's read deadline
// is pushed: out of reach, so only the peer closing the connection ends
// the server's wait for more of the request.
const streamReadDeadline = 365 * 24 * time.Hour

// waitStreamEnd holds the response open until the writer closes conn:
// when a newer stream replaces it, a write fails, the peer goes away, or
// the Transport stops. net/http cancels ctx when the peer closes the
// connection; the writer is told and detaches before it writes into a
// dead stream. The handler must not return while the writer may still
// write, so it always waits for the close.
func waitStreamEnd(ctx context.Context, conn *outgoingConn) {
	select {
	case <-conn.done():
		return
	case <-ctx.Done():
		conn.markGone()
	}
	<-conn.done()
}

// resolve finds the peer and stream type a stream request is for, or
// answers the request with the reason it cannot be served.
func (h *streamHandler) resolve(w http.ResponseWriter, r *http.Request, e *env) (Peer, streamType, types.ID, bool) {
	lg := e.lg.With(zap.Stringer("local-member-id", e.local), zap.String("path", r.URL.Path))
	typ, ok := streamTypeFromDir(path.Dir(r.URL.Path))
	if !ok {
		lg.Debug("ignored unexpected streaming request path")
		http.Error(w, "invalid path", http.StatusNotFound)
		return nil, "", 0, false
	}
	from, err := types.IDFromString(path.Base(r.URL.Path))
	if err != nil {
		lg.Warn("failed to parse path into ID", zap.Error(err))
		http.Error(w, "invalid from", http.StatusNotFound)
		return nil, "", 0, false
	}
	lg = lg.With(zap.Stringer("remote-peer-id-from", from))
	if err := verifyStreamIdentity(e, r, from); err != nil {
		e.rejectIdentity(w, r, endpointStream, from.String(), err)
		return nil, "", 0, false
	}
	if e.raft.IsIDRemoved(uint64(from)) {
		lg.Warn("rejected stream from remote peer because it was removed")
		http.Error(w, "removed member", http.StatusGone)
		return nil, "", 0, false
	}
	p := h.t.Get(from)
	if p == nil {
		h.t.learnRemote(e, from, r.Header.Get(hdrPeerURLs))
		lg.Warn("failed to find remote peer in cluster", zap.Stringer("cluster-id", e.cluster))
		http.Error(w, "error sender not found", http.StatusNotFound)
		return nil, "", 0, false
	}
	if got := r.Header.Get(hdrRaftTo); got != e.local.String() {
		lg.Warn("ignored streaming request; ID mismatch", zap.String("remote-peer-id-header", got))
		http.Error(w, "to field mismatch", http.StatusPreconditionFailed)
		return nil, "", 0, false
	}
	return p, typ, from, true
}

// verifyStreamIdentity checks the member a stream request claims to be,
// in its path and, if sent, its X-Server-From, against the client
// certificate. It returns nil when no check is configured.
func verifyStreamIdentity(e *env, r *http.Request, from types.ID) error {
	if e.guard.verify == nil {
		return nil
	}
	ids := []types.ID{from}
	if h := r.Header.Get(hdrServerFrom); h != "" {
		id, err := types.IDFromString(h)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	return e.guard.verifyIdentity(r, ids...)
}
