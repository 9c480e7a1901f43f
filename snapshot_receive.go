package rafthttp

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/snap"
)

// Errors of a snapshot body that cannot be resumed: the sender's bytes
// disagree with what it declared, or the disk failed.
var (
	errSnapBodyLength = errors.New("rafthttp: snapshot body does not match its declared size")
	errSnapWrite      = errors.New("rafthttp: writing snapshot")
)

// partialHandle is a receiver's hold on one partial DB during a transfer.
type partialHandle struct {
	ps   *partialStore
	p    *partial
	db   *snap.PartialDB
	hash hash.Hash
}

// claim takes the partial DB for an extended POST of key's DB whose body
// starts at offset: a new file at offset 0, else the one held, which must
// have exactly offset bytes.
func (ps *partialStore) claim(key partialKey, offset int64) (*partialHandle, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, ErrStopped
	}
	old := ps.byFrom[key.from]
	if offset == 0 {
		if old != nil && !old.busy {
			ps.dropLocked(old)
		}
		db, err := ps.snap.CreatePartial()
		if err != nil {
			return nil, err
		}
		return ps.busyLocked(&partial{key: key, name: db.Name()}, db, newSnapHash()), nil
	}
	if old == nil || old.busy || old.key != key || old.n != offset {
		return nil, errSnapResumeGone
	}
	h, err := restoreSnapHash(old.state)
	if err != nil {
		ps.dropLocked(old)
		return nil, errSnapResumeGone
	}
	db, err := ps.snap.OpenPartial(old.name, old.n)
	if err != nil {
		ps.dropLocked(old)
		return nil, errSnapResumeGone
	}
	return ps.busyLocked(old, db, h), nil
}

// busyLocked marks p as in use by a transfer and makes it the sender's.
// A transfer still using the sender's previous partial finds it gone when
// it ends and removes its file.
func (ps *partialStore) busyLocked(p *partial, db *snap.PartialDB, h hash.Hash) *partialHandle {
	p.busy, p.released = true, make(chan struct{})
	ps.byFrom[p.key.from] = p
	return &partialHandle{ps: ps, p: p, db: db, hash: h}
}

// copyFrom writes exactly want bytes of r into the partial DB, hashing
// them. A read error leaves what was written resumable; the other errors
// (errSnapBodyLength, errSnapWrite) do not.
func (ph *partialHandle) copyFrom(r io.Reader, want int64) error {
	return hashedCopy(ph.db, ph.hash, r, want)
}

// receiveChunk is the most hashedCopy reads before it writes.
const receiveChunk = 128 << 10

// hashedCopy copies exactly want bytes of r to dst and into h, each
// buffer hashed once it is written, so that whatever the outcome h has
// taken in exactly the bytes dst accepted, unless writing failed
// (errSnapWrite). A body longer or shorter than want fails with
// errSnapBodyLength.
func hashedCopy(dst io.Writer, h hash.Hash, r io.Reader, want int64) error {
	lr := io.LimitReader(r, min(want, math.MaxInt64-1)+1)
	buf := make([]byte, min(max(want, 1), receiveChunk))
	for got := int64(0); ; {
		n, rerr := readBuf(lr, buf)
		if got += int64(n); got > want {
			return errSnapBodyLength
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return fmt.Errorf("%w: %w", errSnapWrite, err)
		}
		h.Write(buf[:n])
		switch {
		case rerr == io.EOF && got < want:
			return errSnapBodyLength
		case rerr == io.EOF:
			return nil
		case rerr != nil:
			return rerr
		}
	}
}

// readBuf fills buf from r and stops early only at an error, which it
// returns unchanged: a cut body must not pass for a short one, as it
// would through io.ReadFull's io.ErrUnexpectedEOF.
func readBuf(r io.Reader, buf []byte) (n int, err error) {
	for n < len(buf) && err == nil {
		var k int
		k, err = r.Read(buf[n:])
		n += k
	}
	return n, err
}

// verify compares the DB's checksum with the one the sender trailed.
func (ph *partialHandle) verify(trailer string) error {
	want, err := parseSnapSum(trailer)
	if err != nil {
		return fmt.Errorf("%w: %w", errSnapChecksum, err)
	}
	if got := ph.hash.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("%w: received %x, sender has %x", errSnapChecksum, got, want)
	}
	return nil
}

// suspend keeps what a cut transfer wrote for the next attempt, if there
// is any and the bounds allow, and releases the partial.
func (ph *partialHandle) suspend() {
	err := ph.db.Suspend()
	state, merr := ph.hash.(encoding.BinaryMarshaler).MarshalBinary()
	ps := ph.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ph.p
	close(p.released)
	p.busy = false
	if err != nil || merr != nil || ps.closed || ps.byFrom[p.key.from] != p || !ps.keeps() || ph.db.Len() == 0 {
		ps.dropLocked(p)
		return
	}
	p.n, p.state, p.idleSince = ph.db.Len(), state, time.Now()
	ps.fitLocked(p)
	ps.expireLocked(p.idleSince)
}

// fitLocked evicts the oldest idle partials until the count and byte
// bounds hold, p last of all; a p over the byte bound alone goes at once.
func (ps *partialStore) fitLocked(p *partial) {
	if p.n > ps.maxBytes {
		ps.dropLocked(p)
		return
	}
	for {
		count, total := 0, int64(0)
		var oldest *partial
		for _, q := range ps.byFrom {
			if q.busy {
				continue
			}
			count, total = count+1, total+q.n
			if q != p && (oldest == nil || q.idleSince.Before(oldest.idleSince)) {
				oldest = q
			}
		}
		if count <= ps.maxCount && total <= ps.maxBytes {
			return
		}
		if oldest == nil {
			oldest = p
		}
		ps.dropLocked(oldest)
		if oldest == p {
			return
		}
	}
}

// release ends the transfer's hold and removes the partial: it was
// installed (commit) or is worthless.
func (ph *partialHandle) release() {
	ps := ph.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	close(ph.p.released)
	ph.p.busy = false
	ps.dropLocked(ph.p)
}

// discard removes the partial DB.
func (ph *partialHandle) discard() {
	ph.db.Discard()
	ph.release()
}

// commit installs the complete DB as the snapshot file for index.
func (ph *partialHandle) commit(index uint64) error {
	err := ph.db.Commit(index)
	ph.release()
	return err
}

// keepAlive runs work and, until it returns, sends "102 Processing" every
// interval, so a sender waiting for the answer sees the receiver alive
// however long the DB takes to sync. Only extended POSTs get it.
func keepAlive(w http.ResponseWriter, interval time.Duration, work func() error) error {
	done := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { done <- work() })
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			w.WriteHeader(http.StatusProcessing)
		}
	}
}

// saveExt receives the DB bytes of an extended POST into a partial file,
// resuming at up.offset, checks the whole DB's checksum against the
// trailer and installs it. It returns the DB's size, or answers and
// returns false.
func (h *snapshotHandler) saveExt(w http.ResponseWriter, r *http.Request, body *recvBody, e *env,
	key partialKey, up snapUpload, lg *zap.Logger) (int64, bool) {
	ph, err := e.snapshots.partials.claim(key, up.offset)
	if err != nil {
		lg.Warn("failed to resume incoming database snapshot", zap.Int64("offset", up.offset), zap.Error(err))
		code := http.StatusInternalServerError
		if errors.Is(err, errSnapResumeGone) {
			code = http.StatusConflict
		}
		http.Error(w, fmt.Sprintf("failed to save KV snapshot (%v)", err), code)
		return 0, false
	}
	tr := e.snapshots.transfers.start(e, SnapshotReceiving, key.from, key.offer.index, up.offset, up.size)
	defer tr.end()
	body.tr = tr
	if up.offset > 0 {
		lg.Info("resuming incoming database snapshot", zap.Int64("offset", up.offset))
		e.metrics.snapshotRecvResumedBytes.WithLabelValues(e.fromLabel(key.from)).Add(float64(up.offset))
	}
	err = ph.copyFrom(body, up.size-up.offset)
	if err == nil {
		err = ph.verify(r.Trailer.Get(hdrSnapSum))
	}
	if err != nil {
		h.failExt(w, e, ph, key, err, lg)
		return 0, false
	}
	if err := keepAlive(w, e.cfg.snapshot.keepAliveInterval(), func() error { return ph.commit(key.offer.index) }); err != nil {
		lg.Warn("failed to save incoming database snapshot", zap.Error(err))
		http.Error(w, fmt.Sprintf("failed to save KV snapshot (%v)", err), http.StatusInternalServerError)
		return 0, false
	}
	// The whole DB, however much of it came in earlier attempts: like the
	// sender's peer_sent_bytes_total, peer_received_bytes_total counts a
	// delivered snapshot once at its full size, as etcd does.
	return up.size, true
}

// failExt answers a failed extended receive: a cut body leaves its bytes
// for a resume; a checksum mismatch or a wrong length leaves nothing.
func (h *snapshotHandler) failExt(w http.ResponseWriter, e *env, ph *partialHandle, key partialKey, err error, lg *zap.Logger) {
	lg.Warn("failed to save incoming database snapshot", zap.Error(err))
	switch {
	case errors.Is(err, errSnapChecksum):
		ph.discard()
		e.metrics.snapshotRecvChecksumFailures.WithLabelValues(e.fromLabel(key.from)).Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, errSnapBodyLength):
		ph.discard()
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, errSnapWrite):
		ph.discard()
		http.Error(w, fmt.Sprintf("failed to save KV snapshot (%v)", err), http.StatusInternalServerError)
	default:
		ph.suspend()
		http.Error(w, fmt.Sprintf("failed to save KV snapshot (%v)", err), http.StatusInternalServerError)
	}
}
