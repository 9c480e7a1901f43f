package rafthttp

import (
	"context"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"time"

	"golang.org/x/time/rate"
)

// The DB bytes of a snapshot pass through one wrapper on each side, which
// applies the Transport's snapshot limits to them as they move.

// sendBody is the DB part of a snapshot upload, as the HTTP client reads
// it: every read is progress for the stall watch, and once the DB is
// exhausted the watch gives the receiver its allowance to answer.
type sendBody struct {
	ctx   context.Context
	r     io.Reader
	cap   *rate.Limiter
	watch *stallWatch
	tr    *transfer
	// answerWait is the silence tolerated after the last byte.
	answerWait time.Duration
	// With the snapshot extension, sum hashes the DB and its hex value is
	// put in trailer once the DB is exhausted; both nil otherwise.
	sum     hash.Hash
	trailer http.Header
}

func (b *sendBody) Read(p []byte) (int, error) {
	n, err := readCapped(b.ctx, b.cap, b.r, p)
	if n > 0 {
		b.watch.progress()
		b.tr.add(n)
		if b.sum != nil {
			b.sum.Write(p[:n])
		}
	}
	if err == io.EOF {
		if b.trailer != nil {
			b.trailer.Set(hdrSnapSum, hex.EncodeToString(b.sum.Sum(nil)))
		}
		b.watch.widen(b.answerWait)
	}
	return n, err
}

// recvBody is a snapshot request's body as the handler reads it: each read
// may wait one stall timeout for the sender, however long the whole body
// takes.
type recvBody struct {
	ctx      context.Context
	r        io.Reader
	cap      *rate.Limiter
	deadline *recvDeadline
	// tr counts the DB bytes once the envelope has been read; nil before.
	tr *transfer
}

func newRecvBody(w http.ResponseWriter, r *http.Request, e *env) *recvBody {
	return &recvBody{ctx: r.Context(), r: r.Body, cap: e.snapshots.recvCap,
		deadline: newRecvDeadline(w, e.cfg.snapshot.stallTimeout)}
}

func (b *recvBody) Read(p []byte) (int, error) {
	b.deadline.extend()
	n, err := readCapped(b.ctx, b.cap, b.r, p)
	if b.tr != nil {
		b.tr.add(n)
	}
	if err == io.EOF {
		b.deadline.release()
	}
	return n, err
}

// watchedRoundTripper stops a stall watch once the answer's headers have
// arrived; reading the answer has its own bound (responseReadTimeout).
type watchedRoundTripper struct {
	rt    http.RoundTripper
	watch *stallWatch
}

func (w watchedRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.rt.RoundTrip(req)
	w.watch.stop()
	return resp, err
}
