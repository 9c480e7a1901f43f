package kv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Paths of the client API besides /<key> and /<id>.
const (
	statusPath  = "/status"
	metricsPath = "/metrics"
)

// errTimeout answers a proposal that was not applied in time.
var errTimeout = errors.New("kv: timed out waiting for the change to be applied; it may still be")

// clientHandler serves the client API:
//
// The keys "status" and "metrics" are taken by the last two.
//
//	GET    /<key>    the value (200) or 404
//	PUT    /<key>    set the key to the body (≤ MaxValueBytes); 204 once applied
//	POST   /<id>     add member <id> with the peer URL in the body; 204 once applied
//	DELETE /<id>     remove member <id>; 204 once applied
//	GET    /status   Status as JSON
//	GET    /metrics  Prometheus metrics
func (n *Node) clientHandler(reg *prometheus.Registry) http.Handler {
	metricsH := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case statusPath:
			if allow(w, r, http.MethodGet) {
				n.serveStatus(w)
			}
			return
		case metricsPath:
			if allow(w, r, http.MethodGet) {
				metricsH.ServeHTTP(w, r)
			}
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			n.serveGet(w, r)
		case http.MethodPut:
			n.servePut(w, r)
		case http.MethodPost:
			n.serveAddMember(w, r)
		case http.MethodDelete:
			n.serveRemoveMember(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, PUT, POST, DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// allow answers 405 unless r uses method (or HEAD for GET).
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", method)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func (n *Node) serveStatus(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(n.Status()) // a failed write means the client left
}

func (n *Node) serveGet(w http.ResponseWriter, r *http.Request) {
	key, err := parseKey(r.URL.Path)
	if err != nil {
		n.reply(w, "get", http.StatusBadRequest, err.Error())
		return
	}
	v, ok := n.state.get(key)
	if !ok {
		n.reply(w, "get", http.StatusNotFound, "key not found")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(v)))
	n.metrics.requests.WithLabelValues("get", "200").Inc()
	_, _ = w.Write(v) // a failed write means the client left
}

func (n *Node) servePut(w http.ResponseWriter, r *http.Request) {
	key, err := parseKey(r.URL.Path)
	if err != nil {
		n.reply(w, "put", http.StatusBadRequest, err.Error())
		return
	}
	value, code, err := readBody(w, r, MaxValueBytes)
	if err != nil {
		n.reply(w, "put", code, err.Error())
		return
	}
	id := newRequestID()
	data := putRequest{id: id, key: key, value: value}.marshal()
	err = n.propose(r.Context(), id, func(ctx context.Context) error { return n.raft.Propose(ctx, data) })
	n.replyResult(w, "put", err)
}

func (n *Node) serveAddMember(w http.ResponseWriter, r *http.Request) {
	id, err := parseMemberID(r.URL.Path)
	if err != nil {
		n.reply(w, "add-member", http.StatusBadRequest, err.Error())
		return
	}
	body, code, err := readBody(w, r, maxURLBytes)
	if err != nil {
		n.reply(w, "add-member", code, err.Error())
		return
	}
	u, err := ParsePeerURL(strings.TrimSpace(string(body)))
	if err != nil {
		n.reply(w, "add-member", http.StatusBadRequest, err.Error())
		return
	}
	if err := n.checkAdd(id, u); err != nil {
		n.replyResult(w, "add-member", err)
		return
	}
	n.proposeConfChange(w, r, "add-member", &raftpb.ConfChange{
		Type: raftpb.ConfChangeType_ConfChangeAddNode.Enum(), NodeId: proto.Uint64(id), Context: []byte(u),
	})
}

func (n *Node) serveRemoveMember(w http.ResponseWriter, r *http.Request) {
	id, err := parseMemberID(r.URL.Path)
	if err != nil {
		n.reply(w, "remove-member", http.StatusBadRequest, err.Error())
		return
	}
	if err := n.checkRemove(id); err != nil {
		n.replyResult(w, "remove-member", err)
		return
	}
	n.proposeConfChange(w, r, "remove-member", &raftpb.ConfChange{
		Type: raftpb.ConfChangeType_ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(id),
	})
}

// proposeConfChange proposes cc, tagged with a new request ID, and
// answers with the outcome.
func (n *Node) proposeConfChange(w http.ResponseWriter, r *http.Request, op string, cc *raftpb.ConfChange) {
	id := newRequestID()
	cc.Id = proto.Uint64(id)
	err := n.propose(r.Context(), id, func(ctx context.Context) error { return n.raft.ProposeConfChange(ctx, cc) })
	n.replyResult(w, op, err)
}

// propose runs fn to make a proposal tagged id and waits until it is
// applied, the request times out, or the node stops.
func (n *Node) propose(ctx context.Context, id uint64, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	applied := n.waiters.register(id)
	defer n.waiters.cancel(id)
	if err := fn(ctx); err != nil {
		return err
	}
	select {
	case err := <-applied:
		return err
	case <-ctx.Done():
		return errTimeout
	case <-n.done:
		select {
		case err := <-applied: // applied just before the loop stopped
			return err
		default:
			return errStopped
		}
	}
}

// replyResult answers with the status code err deserves.
func (n *Node) replyResult(w http.ResponseWriter, op string, err error) {
	switch {
	case err == nil:
		n.metrics.requests.WithLabelValues(op, "204").Inc()
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, errUnknownMember):
		n.reply(w, op, http.StatusNotFound, err.Error())
	case errors.Is(err, errMemberExists), errors.Is(err, errIDRemoved),
		errors.Is(err, errURLInUse), errors.Is(err, errLastMember):
		n.reply(w, op, http.StatusConflict, err.Error())
	case errors.Is(err, raft.ErrProposalDropped):
		n.reply(w, op, http.StatusServiceUnavailable, "proposal dropped (no leader yet?); retry")
	default: // errTimeout, errStopped, raft.ErrStopped, a cancelled request
		n.reply(w, op, http.StatusServiceUnavailable, err.Error())
	}
}

// reply writes a plain-text answer and counts it.
func (n *Node) reply(w http.ResponseWriter, op string, code int, msg string) {
	n.metrics.requests.WithLabelValues(op, strconv.Itoa(code)).Inc()
	http.Error(w, msg, code)
}

// parseKey returns the key named by an URL path.
func parseKey(path string) (string, error) {
	key := strings.TrimPrefix(path, "/")
	switch {
	case key == "":
		return "", errors.New("empty key")
	case len(key) > MaxKeyBytes:
		return "", fmt.Errorf("key is longer than %d bytes", MaxKeyBytes)
	}
	return key, nil
}

// parseMemberID returns the member ID named by an URL path: a decimal
// number of at least 1.
func parseMemberID(path string) (uint64, error) {
	s := strings.TrimPrefix(path, "/")
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("malformed member ID %q: want a decimal number of at least 1", s)
	}
	return id, nil
}

// readBody reads at most limit bytes of r's body. On error it also returns
// the status code to answer with.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	tooLarge := fmt.Errorf("body is larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("reading body: %w", err)
	}
	return b, 0, nil
}
