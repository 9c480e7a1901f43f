package rafthttp

import (
	"bytes"
	"context"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// snapshotOfferHandler answers a rafthttp sender that is about to send a
// snapshot: how much of that DB we hold from a cut transfer. Its 200 is
// also how the sender learns that we speak the snapshot extension.
type snapshotOfferHandler struct{ t *Transport }

func (h *snapshotOfferHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !checkMethod(w, r, http.MethodGet) {
		return
	}
	e, verified := h.t.acceptRequest(w, r, endpointSnapshot)
	if e == nil {
		return
	}
	from, err := types.IDFromString(r.Header.Get(hdrServerFrom))
	if err != nil {
		http.Error(w, "missing or malformed "+hdrServerFrom, http.StatusBadRequest)
		return
	}
	if !e.checkMessageSender(w, r, endpointSnapshot, verified, from) {
		return
	}
	o, err := parseSnapOffer(r.Header)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// A transfer of this DB still in progress here has lost its sender,
	// which gave up at most a sixteenth of the stall timeout before we do.
	held := e.snapshots.partials.held(r.Context(), partialKey{from: from, offer: o}, e.cfg.snapshot.stallTimeout/4)
	held.setHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
}

// extUpload is how a sender continues a DB through the extension.
type extUpload struct {
	offset int64
	// sum has hashed DB[:offset] and hashes the rest as it is sent.
	sum hash.Hash
}

// offer asks the peer at u what it holds of o's DB. ok is false when the
// peer does not speak the extension (an etcd member), and the snapshot
// then goes out exactly as etcd sends it.
func (s *snapshotSender) offer(ctx context.Context, u url.URL, o snapOffer) (held snapHeld, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.env.cfg.snapshot.stallTimeout)
	defer cancel()
	u.Path = snapshotOfferPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return held, false, err
	}
	s.env.setRequestHeaders(req.Header)
	o.setHeaders(req.Header)
	resp, err := s.env.snapshotRt.RoundTrip(req)
	if err != nil {
		return held, false, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()
	held, ok, err = parseSnapHeld(resp, o)
	if err != nil {
		// A receiver whose answer names no checksum we know, or is
		// malformed, does not speak this extension.
		s.lg.Warn("peer does not speak this snapshot extension; sending the snapshot as etcd does", zap.Error(err))
		return snapHeld{}, false, nil
	}
	return held, ok, nil
}

// prefixCheck remembers, per sender, a held prefix that did not match the
// DB, so the next attempt starts over instead of failing again.
type prefixCheck struct {
	mu  sync.Mutex
	bad map[snapOffer][]byte // guarded by mu
}

// skipHeld reads the first held.offset bytes of db and returns the upload
// that continues after them, if they are what the receiver holds. If not,
// a db that can seek (a file) is rewound and sent whole in this attempt;
// any other fails the attempt, and the next one starts at 0.
func (s *snapshotSender) skipHeld(o snapOffer, held snapHeld, db io.Reader) (*extUpload, error) {
	up := &extUpload{sum: newSnapHash()}
	if held.offset == 0 || s.prefixes.known(o, held.prefix) {
		return up, nil
	}
	if _, err := io.CopyN(up.sum, db, held.offset); err != nil {
		return nil, err
	}
	if !bytes.Equal(up.sum.Sum(nil), held.prefix) {
		s.prefixes.remember(o, held.prefix)
		return s.rewind(o, db)
	}
	up.offset = held.offset
	return up, nil
}

// rewind returns an upload of db from its first byte when db can seek
// back there, else errSnapPrefixDiffs.
func (s *snapshotSender) rewind(o snapOffer, db io.Reader) (*extUpload, error) {
	sk, ok := db.(io.Seeker)
	if !ok {
		return nil, errSnapPrefixDiffs
	}
	if _, err := sk.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%w (rewinding: %w)", errSnapPrefixDiffs, err)
	}
	s.lg.Info("held snapshot prefix differs from the DB; sending it from the start",
		zap.Uint64("snapshot-index", o.index))
	return &extUpload{sum: newSnapHash()}, nil
}

// known reports whether prefix was found not to match o's DB.
func (c *prefixCheck) known(o snapOffer, prefix []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Equal(c.bad[o], prefix)
}

// remember notes that prefix does not match o's DB; one entry suffices.
func (c *prefixCheck) remember(o snapOffer, prefix []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = map[snapOffer][]byte{o: prefix}
}

// start is where the upload begins in the DB; a nil upload (etcd's POST)
// starts at 0.
func (up *extUpload) start() int64 {
	if up == nil {
		return 0
	}
	return up.offset
}

// body wraps the upload's plain DB body into one that hashes the DB from
// up.offset on, going on from up.sum, through one buffer no larger than
// the rest of the DB needs.
func (up *extUpload) body(plain *sendBody, o snapOffer) *extSendBody {
	return &extSendBody{sendBody: plain, sum: up.sum, buf: make([]byte, min(max(o.size-up.offset, 1), extUploadChunk))}
}

// extend turns req, whose body ends with body, into an extended POST: its
// headers say where the body starts in the DB, its trailer carries the
// whole DB's checksum, and the receiver's keep-alives let the sender wait
// for the answer with the plain stall timeout.
func (up *extUpload) extend(req *http.Request, body *extSendBody, o snapOffer, cfg snapshotSettings) {
	h := req.Header
	h.Set(hdrSnapExt, snapExtVersion)
	h.Set(hdrSnapChecksum, snapSumName)
	h.Set(hdrSnapSize, strconv.FormatInt(o.size, 10))
	h.Set(hdrSnapOffset, strconv.FormatInt(up.offset, 10))
	req.Trailer = http.Header{http.CanonicalHeaderKey(hdrSnapSum): nil}
	body.trailer = req.Trailer
	body.answerWait = cfg.stallTimeout
}
