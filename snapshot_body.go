package rafthttp

import (
	"context"
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

// extSendBody is the DB part of an extended upload. It hashes the DB on a
// hashPipe as it goes, and puts the whole DB's checksum in the trailer
// once the DB is exhausted.
type extSendBody struct {
	*sendBody
	pipe    *hashPipe
	kind    snapSum
	trailer http.Header
}

// WriteTo is how net/http's client copies the body (io.MultiReader passes
// the call on): each read of the DB goes out as one chunk of up to
// hashPipeBufSize bytes, straight from the buffer being hashed, where
// Read would take etcd's 32 KiB copies.
func (b *extSendBody) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		buf, err := b.pipe.buf()
		if err != nil {
			return total, err
		}
		n, rerr := readCapped(b.ctx, b.cap, b.r, buf)
		if err := b.pipe.put(buf[:n]); err != nil {
			return total, err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return total, err
		}
		total += int64(n)
		b.moved(n)
		switch {
		case rerr == io.EOF:
			return total, b.end()
		case rerr != nil:
			return total, rerr
		}
	}
}

// Read serves a client that does not use WriteTo, through the same pipe.
func (b *extSendBody) Read(p []byte) (int, error) {
	buf, err := b.pipe.buf()
	if err != nil {
		return 0, err
	}
	n, rerr := readCapped(b.ctx, b.cap, b.r, p[:min(len(p), len(buf))])
	if err := b.pipe.put(buf[:copy(buf, p[:n])]); err != nil {
		return 0, err
	}
	b.moved(n)
	if rerr == io.EOF {
		if err := b.end(); err != nil {
			return n, err
		}
	}
	return n, rerr
}

// end sets the trailer once every byte is hashed, and gives the receiver
// its allowance to answer.
func (b *extSendBody) end() error {
	sum, err := b.pipe.finish()
	if err != nil {
		return err
	}
	b.trailer.Set(b.kind.trailer(), b.kind.format(sum.Sum(nil)))
	b.watch.widen(b.answerWait)
	return nil
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
