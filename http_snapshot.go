package rafthttp

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// snapshotHandler receives a MsgSnap envelope followed by the DB bytes,
// saves the DB through the Snapshotter and only then hands the message to
// raft, so raft never learns of a snapshot whose data is not on disk.
type snapshotHandler struct{ t *Transport }

func (h *snapshotHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !checkMethod(w, r, http.MethodPost) {
		h.countUnknownFailure()
		return
	}
	e, verified := h.t.acceptRequest(w, r, endpointSnapshot)
	if e == nil {
		h.countUnknownFailure()
		return
	}
	if !e.guard.snapRecvs.tryAcquire() {
		e.lg.Warn("refused incoming snapshot; too many concurrent snapshot receives",
			zap.String("remote-peer-id", r.Header.Get(hdrServerFrom)))
		http.Error(w, errTooManySnapshotReceives.Error(), http.StatusServiceUnavailable)
		e.metrics.snapshotRecvFailures.WithLabelValues(unknownSnapshotSender).Inc()
		return
	}
	defer e.guard.snapRecvs.release()
	body := newRecvBody(w, r, e)
	m, size, ok := h.decodeEnvelope(w, r, body, e, verified)
	if !ok {
		return
	}
	from := e.fromLabel(types.ID(m.GetFrom()))
	e.metrics.snapshotRecvInflights.WithLabelValues(from).Inc()
	defer e.metrics.snapshotRecvInflights.WithLabelValues(from).Dec()
	if !h.receive(w, r, body, e, m, size) {
		e.metrics.snapshotRecvFailures.WithLabelValues(from).Inc()
		return
	}
	w.WriteHeader(http.StatusNoContent)
	e.metrics.snapshotRecv.WithLabelValues(from).Inc()
	e.metrics.snapshotRecvSeconds.WithLabelValues(from).Observe(time.Since(start).Seconds())
}

// decodeEnvelope reads the MsgSnap in front of the DB bytes and returns it
// with its encoded size. On failure it answers 400 (403 if From is not the
// verified sender) and returns false.
func (h *snapshotHandler) decodeEnvelope(w http.ResponseWriter, r *http.Request, body io.Reader, e *env,
	verified types.ID) (*raftpb.Message, int, bool) {
	dec := newMessageDecoder(body, e.cfg.maxEnvelopeBytes)
	m, err := dec.decode()
	from := e.fromLabel(types.ID(m.GetFrom()))
	if err != nil {
		e.lg.Warn("failed to decode Raft message", zap.Error(err))
		http.Error(w, fmt.Sprintf("failed to decode raft message (%v)", err), http.StatusBadRequest)
		e.metrics.recvFailures.WithLabelValues(e.senderLabel(r)).Inc()
		e.metrics.snapshotRecvFailures.WithLabelValues(from).Inc()
		return nil, 0, false
	}
	if !e.checkMessageSender(w, r, endpointSnapshot, verified, types.ID(m.GetFrom())) {
		e.metrics.snapshotRecvFailures.WithLabelValues(from).Inc()
		return nil, 0, false
	}
	e.metrics.receivedBytes.WithLabelValues(from).Add(float64(dec.lastSize()))
	if m.GetType() != raftpb.MsgSnap {
		e.lg.Warn("unexpected Raft message type", zap.Stringer("message-type", m.GetType()))
		http.Error(w, "wrong raft message type", http.StatusBadRequest)
		e.metrics.snapshotRecvFailures.WithLabelValues(from).Inc()
		return nil, 0, false
	}
	return m, dec.lastSize(), true
}

// save stores the DB bytes left in body: through the snapshot extension
// when the sender asked for it, else as etcd does. It returns the bytes
// received, or answers and returns false.
func (h *snapshotHandler) save(w http.ResponseWriter, r *http.Request, body *recvBody, e *env,
	m *raftpb.Message, lg *zap.Logger) (int64, bool) {
	from, meta := types.ID(m.GetFrom()), m.GetSnapshot().GetMetadata()
	up, ext, err := parseSnapUpload(r.Header)
	if err != nil {
		lg.Warn("failed to save incoming database snapshot", zap.Error(err))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return 0, false
	}
	if ext {
		key := partialKey{from: from, offer: snapOffer{index: meta.GetIndex(), term: meta.GetTerm(), size: up.size}}
		return h.saveExt(w, r, body, e, key, up, lg)
	}
	tr := e.snapshots.transfers.start(e, SnapshotReceiving, from, meta.GetIndex(), 0, -1)
	defer tr.end()
	body.tr = tr
	n, err := e.snapshot.SaveDBFrom(body, meta.GetIndex())
	if err != nil {
		lg.Warn("failed to save incoming database snapshot", zap.Error(err))
		http.Error(w, fmt.Sprintf("failed to save KV snapshot (%v)", err), http.StatusInternalServerError)
		return 0, false
	}
	return n, true
}

// countUnknownFailure counts a request rejected before its sender is known.
func (h *snapshotHandler) countUnknownFailure() {
	if e := h.t.handlerEnv(); e != nil {
		e.metrics.snapshotRecvFailures.WithLabelValues(unknownSnapshotSender).Inc()
	}
}

// receive saves the DB bytes left in body and processes m. On failure it
// writes the reply and returns false.
func (h *snapshotHandler) receive(w http.ResponseWriter, r *http.Request, body *recvBody, e *env,
	m *raftpb.Message, size int) bool {
	start := time.Now()
	index := m.GetSnapshot().GetMetadata().GetIndex()
	lg := e.lg.With(zap.Stringer("local-member-id", e.local),
		zap.Stringer("remote-snapshot-sender-id", types.ID(m.GetFrom())),
		zap.Uint64("incoming-snapshot-index", index))
	lg.Info("receiving database snapshot",
		zap.Int("incoming-snapshot-message-size-bytes", size))
	if e.snapshot == nil {
		lg.Warn("failed to save incoming database snapshot; Transport has no Snapshotter")
		http.Error(w, "failed to save KV snapshot (no snapshotter)", http.StatusInternalServerError)
		return false
	}
	n, ok := h.save(w, r, body, e, m, lg)
	if !ok {
		return false
	}
	e.snapshots.partials.dropUpTo(index)
	e.metrics.receivedBytes.WithLabelValues(e.fromLabel(types.ID(m.GetFrom()))).Add(float64(n))
	lg.Info("received and saved database snapshot", zap.Int64("incoming-snapshot-size-bytes", n),
		zap.String("incoming-snapshot-size", humanBytes(n)), zap.Duration("download-took", time.Since(start)))
	if err := e.raft.Process(r.Context(), m); err != nil {
		if !writeProcessError(w, err) {
			lg.Warn("failed to process Raft message", zap.Error(err))
			http.Error(w, fmt.Sprintf("failed to process raft message (%v)", err), http.StatusInternalServerError)
		}
		return false
	}
	return true
}
