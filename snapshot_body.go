package rafthttp

import (
	"context"
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
// exhausted the watch gives the receiver its allowance to answer. It is
// etcd's upload; extSendBody adds the extension's checksum.
type sendBody struct {
	ctx   context.Context
	r     io.Reader
	cap   *rate.Limiter
	watch *stallWatch
	tr    *transfer
	// answerWait is the silence tolerated after the last byte.
	answerWait time.Duration
}

func (b *sendBody) Read(p []byte) (int, error) {
	n, err := readCapped(b.ctx, b.cap, b.r, p)
	b.moved(n)
	if err == io.EOF {
		b.watch.widen(b.answerWait)
	}
	return n, err
}

// moved notes n bytes of progress.
func (b *sendBody) moved(n int) {
	if n > 0 {
		b.watch.progress()
		b.tr.add(n)
	}
}

// extUploadChunk is the size of the chunks an extended upload writes: large
// enough that a read, a write, a chunk header and hashing are cheap per
// byte (etcd's 32 KiB copies cost more), small enough to stay out of the
// way of a small host's memory.
const extUploadChunk = 128 << 10

// extSendBody is the DB part of an extended upload. It hashes the DB as
// it goes, and puts the whole DB's checksum in the trailer once the DB is
// exhausted.
type extSendBody struct {
	*sendBody
	sum     hash.Hash
	buf     []byte // WriteTo's, one per transfer
	trailer http.Header
}

// WriteTo is how net/http's client copies the body (io.MultiReader passes
// the call on): each read of the DB goes out as one chunk of up to
// extUploadChunk bytes from one buffer, where Read would take etcd's
// 32 KiB copies.
func (b *extSendBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		n, rerr := readCapped(b.ctx, b.cap, b.r, b.buf)
		if _, err := w.Write(b.buf[:n]); err != nil {
			return total, err
		}
		b.sum.Write(b.buf[:n])
		total += int64(n)
		b.moved(n)
		switch {
		case rerr == io.EOF:
			b.end()
			return total, nil
		case rerr != nil:
			return total, rerr
		}
	}
}

// Read serves a client that does not use WriteTo.
func (b *extSendBody) Read(p []byte) (int, error) {
	n, rerr := readCapped(b.ctx, b.cap, b.r, p)
	b.sum.Write(p[:n])
	b.moved(n)
	if rerr == io.EOF {
		b.end()
	}
	return n, rerr
}

// end sets the trailer and gives the receiver its allowance to answer.
func (b *extSendBody) end() {
	b.trailer.Set(hdrSnapSum, formatSnapSum(b.sum.Sum(nil)))
	b.watch.widen(b.answerWait)
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
