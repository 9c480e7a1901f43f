package rafthttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// A snapshot transfer is judged by its progress, not by its duration: a
// 4 GiB DB over a 20 MB/s link takes minutes, and any fixed deadline either
// cuts it or lets a dead link hang for as long. Both sides give up only
// when no byte has moved for the stall timeout.
const (
	// defaultSnapshotStallTimeout is Limits.SnapshotStallTimeout's default:
	// six times etcd's 5 s read timeout, so a link that pauses for a few
	// seconds (a congested switch, a receiver flushing its page cache)
	// does not throw away a transfer.
	defaultSnapshotStallTimeout = 30 * time.Second
	// minReceiverSyncRate is the slowest rate, in bytes per second, at which
	// we expect a receiver to flush a received DB to disk. A receiver that
	// cannot say it is alive while it syncs (an etcd peer) gets
	// stallTimeout + DB size / minReceiverSyncRate to answer after the last
	// byte: 9 minutes for 4 GiB, where etcd waits without bound.
	minReceiverSyncRate = 8 << 20
)

// Bursts of the snapshot bandwidth caps: 1/2000 s of the rate, so a
// heartbeat that meets a burst in a slow link's queue waits about 0.5 ms
// behind it at most, within bounds that keep reads efficient (below
// 2 MB/s the 1 KiB floor takes longer).
const (
	minCapBurst = 1 << 10
	maxCapBurst = 256 << 10
)

// errSnapshotStalled ends a transfer in which no byte moved for the stall
// timeout.
var errSnapshotStalled = errors.New("rafthttp: snapshot transfer stalled")

// snapshotSettings are the snapshot limits of one Transport, fixed at Start.
type snapshotSettings struct {
	// stallTimeout is how long a transfer may go without progress.
	stallTimeout time.Duration
}

// newSnapshotSettings fills in the defaults of the snapshot fields of l.
func newSnapshotSettings(l Limits) snapshotSettings {
	stall := l.SnapshotStallTimeout
	if stall <= 0 {
		stall = defaultSnapshotStallTimeout
	}
	return snapshotSettings{stallTimeout: stall}
}

// snapshotShared is what all snapshot transfers of one Transport share.
type snapshotShared struct {
	// sendCap and recvCap pace DB bytes; nil means no cap.
	sendCap, recvCap *rate.Limiter
	// transfers are those in progress, in both directions.
	transfers transferSet
	// partials are what cut transfers to us left for resuming.
	partials *partialStore
}

func newSnapshotShared(t *Transport, lg *zap.Logger) *snapshotShared {
	return &snapshotShared{
		sendCap:  newByteCap(t.Limits.SnapshotSendBytesPerSecond),
		recvCap:  newByteCap(t.Limits.SnapshotReceiveBytesPerSecond),
		partials: newPartialStore(t.Snapshotter, lg, t.Limits),
	}
}

// newByteCap returns a limiter of bytesPerSec, or nil for no cap.
func newByteCap(bytesPerSec int64) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSec), capBurst(bytesPerSec))
}

func capBurst(bytesPerSec int64) int {
	return int(min(max(bytesPerSec/2000, minCapBurst), maxCapBurst))
}

// readCapped reads into p from r, at most one burst of lim, and waits
// until lim allows the bytes read. A nil lim reads without pacing.
func readCapped(ctx context.Context, lim *rate.Limiter, r io.Reader, p []byte) (int, error) {
	if lim == nil {
		return r.Read(p)
	}
	n, err := r.Read(p[:min(len(p), lim.Burst())])
	if n > 0 {
		if werr := lim.WaitN(ctx, n); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

// keepAliveInterval spaces a receiver's 102 answers: three per stall
// timeout, so one lost or late never starves the sender's watch.
func (s snapshotSettings) keepAliveInterval() time.Duration {
	return max(s.stallTimeout/3, time.Millisecond)
}

// answerAllowance is how long a sender waits, after its last byte, for a
// receiver that cannot show it is alive to answer for a DB of dbSize bytes.
func (s snapshotSettings) answerAllowance(dbSize int64) time.Duration {
	return s.stallTimeout + time.Duration(float64(max(dbSize, 0))/minReceiverSyncRate*float64(time.Second))
}

// stallWatch cancels a sender's request once no progress has been noted
// for its timeout. The window can be widened for a phase in which the peer
// cannot show progress (waiting for an answer). Its goroutine is owned by
// the send that starts it and ends in stop.
type stallWatch struct {
	cancel context.CancelCauseFunc
	stopc  chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	last   atomic.Int64 // time of the last progress, UnixNano
	window atomic.Int64 // silence tolerated after last, nanoseconds
}

// startStallWatch returns a context derived from ctx that is cancelled
// with errSnapshotStalled once timeout passes without progress.
func startStallWatch(ctx context.Context, timeout time.Duration) (context.Context, *stallWatch) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &stallWatch{cancel: cancel, stopc: make(chan struct{})}
	w.window.Store(int64(timeout))
	w.progress()
	w.wg.Go(w.run)
	return ctx, w
}

// progress notes that bytes moved or the peer showed it is alive.
func (w *stallWatch) progress() {
	w.last.Store(time.Now().UnixNano())
}

// widen sets the silence tolerated from now on to d, counted from now.
func (w *stallWatch) widen(d time.Duration) {
	w.window.Store(int64(d))
	w.progress()
}

// traced returns ctx with a client trace that counts the receiver's
// informational answers (its keep-alives) as progress.
func (w *stallWatch) traced(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(int, textproto.MIMEHeader) error {
			w.progress()
			return nil
		},
	})
}

// stop ends the watch and waits for its goroutine; the context stays
// uncancelled unless the watch already fired. Safe to call more than once.
func (w *stallWatch) stop() {
	w.once.Do(func() { close(w.stopc) })
	w.wg.Wait()
}

// close stops the watch and releases its context, once the request is over.
func (w *stallWatch) close() {
	w.stop()
	w.cancel(context.Canceled)
}

func (w *stallWatch) run() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		left := time.Duration(w.last.Load()+w.window.Load()) - time.Duration(time.Now().UnixNano())
		if left <= 0 {
			w.cancel(errSnapshotStalled)
			return
		}
		t.Reset(left)
		select {
		case <-w.stopc:
			return
		case <-t.C:
		}
	}
}

// recvDeadline keeps a snapshot request's read deadline one stall timeout
// ahead of the last read, so a receiver gives up only on a silent sender.
// It replaces both the listener's per-read timeout (5 s with NewListener)
// and any whole-request http.Server.ReadTimeout, neither of which suits a
// body that may take minutes. It is used by one goroutine.
type recvDeadline struct {
	rc      *http.ResponseController
	timeout time.Duration
	next    time.Time // when the deadline is next pushed forward
}

func newRecvDeadline(w http.ResponseWriter, timeout time.Duration) *recvDeadline {
	return &recvDeadline{rc: http.NewResponseController(w), timeout: timeout}
}

// extend pushes the deadline forward before a read. To save a syscall per
// read it moves at most every timeout/16, and by timeout plus that, so a
// read always gets at least the full timeout. Writers that cannot set
// deadlines (a recorder in tests, some wrappers) are left without.
func (d *recvDeadline) extend() {
	now := time.Now()
	if now.Before(d.next) {
		return
	}
	step := d.timeout / 16
	d.next = now.Add(step)
	_ = d.rc.SetReadDeadline(now.Add(d.timeout + step))
}

// release lifts the deadline once the body has been read: net/http keeps
// a read pending on the connection to notice the client leaving, and a
// deadline expiring there while the DB is synced would cancel the
// request's context. The server sets its own deadlines for the next
// request.
func (d *recvDeadline) release() {
	// The zero time would bring back NewListener's per-read timeout.
	_ = d.rc.SetReadDeadline(time.Now().Add(streamReadDeadline))
}
