package rafthttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rafthttp/rafthttp/types"
)

// streamReader dials one stream type on a peer and feeds what arrives to
// the peer's receive queues, redialling (rate limited) whenever the
// stream ends.
type streamReader struct {
	env    *env
	lg     *zap.Logger
	typ    streamType
	peerID types.ID
	picker *urlPicker
	status *peerStatus
	// recvq takes what arrives, except proposals, which go to propq.
	recvq  *msgQueue
	propq  *msgQueue
	paused *atomic.Bool
	// receivedBytes is the peer's peer_received_bytes_total series.
	receivedBytes prometheus.Counter
}

// run dials and reads until ctx is done. Cancelling ctx also aborts a dial
// or read in progress.
func (r *streamReader) run(ctx context.Context) {
	limiter := rate.NewLimiter(r.env.cfg.dialRetry, 1)
	r.lg.Info("started stream reader with remote peer")
	for {
		r.session(ctx)
		if err := limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				r.lg.Info("stopped stream reader with remote peer")
				return
			}
			r.lg.Warn("rate limit on stream reader with remote peer", zap.Error(err))
		}
	}
}

// session makes one dial and, if it succeeds, reads until the stream ends.
func (r *streamReader) session(ctx context.Context) {
	body, err := r.dial(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.status.deactivate(failure{channel: r.typ.String(), action: "dial"}, err.Error())
		}
		return
	}
	r.status.activate()
	r.lg.Info("established TCP streaming connection with remote peer")
	err = r.decodeLoop(body)
	body.Close()
	if ctx.Err() != nil {
		r.lg.Info("closed TCP streaming connection with remote peer")
		return
	}
	r.lg.Warn("lost TCP streaming connection with remote peer", zap.Error(err))
	if !errors.Is(err, io.EOF) && !isClosedConnError(err) {
		r.status.deactivate(failure{channel: r.typ.String(), action: "read"}, err.Error())
	}
}

func isClosedConnError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "closed")
}

// decodeLoop reads messages until the stream fails.
func (r *streamReader) decodeLoop(conn io.Reader) error {
	// Decoders make small reads (a length, then a payload); serving them
	// from a buffer avoids a trip through the HTTP body for each.
	body := bufio.NewReaderSize(conn, streamReadBufSize)
	var dec decoder
	if r.typ == streamTypeMsgAppV2 {
		dec = newMsgAppV2Decoder(body, uint64(r.env.local), uint64(r.peerID), r.env.cfg.maxMessageBytes)
	} else {
		dec = newStreamMessageDecoder(body, r.env.cfg.maxMessageBytes)
	}
	// Messages decoded from one read are handed over together: one lock
	// and at most one wake-up of the consumer for the lot. The batch goes
	// out once the buffer is used up, before the reader waits for more
	// (a record only partly buffered is the rest of a write in flight).
	// The batch is an array on this goroutine's stack: storing into it
	// needs no write barrier.
	var batch [deliverBatchSize]*raftpb.Message
	var in inbound
	for {
		m, err := dec.decode()
		if err != nil {
			r.handOver(&in, batch[:in.msgs])
			return err
		}
		r.countReceived(&in, m, dec.lastSize())
		if !r.paused.Load() && !isLinkHeartbeat(m) {
			batch[in.msgs] = m
			in.msgs++
		}
		if in.msgs == len(batch) || body.Buffered() == 0 {
			r.handOver(&in, batch[:in.msgs])
		}
	}
}

// deliverBatchSize is the most messages the reader holds before handing
// them over.
const deliverBatchSize = 64

// inbound counts what the reader has decoded but not yet handed over.
type inbound struct {
	msgs int // in the reader's batch
	// peerBytes is the size of everything decoded from the peer since the
	// last hand-over, delivered or not, for its received-bytes series.
	peerBytes int
}

// handOver delivers batch, in's messages, counts their bytes, and empties
// both.
func (r *streamReader) handOver(in *inbound, batch []*raftpb.Message) {
	r.deliverAll(batch)
	clear(batch)
	in.msgs = 0
	if in.peerBytes > 0 {
		r.receivedBytes.Add(float64(in.peerBytes))
		in.peerBytes = 0
	}
}

// countReceived adds m to peer_received_bytes_total, labelled with its
// sender as etcd does (link heartbeats count under "0"). The peer's own
// messages are counted when handed over.
func (r *streamReader) countReceived(in *inbound, m *raftpb.Message, size int) {
	if from := types.ID(m.GetFrom()); from != r.peerID {
		r.env.metrics.receivedBytes.WithLabelValues(from.String()).Add(float64(size))
		return
	}
	in.peerBytes += size
}

// streamReadBufSize is the stream reader's buffer; larger reads bypass it.
const streamReadBufSize = 16 << 10

// deliverAll queues ms for raft without blocking, proposals on their own
// queue; a full queue drops the rest with a warning and a metric each, as
// raft retransmits what it needs. It reuses ms.
func (r *streamReader) deliverAll(ms []*raftpb.Message) {
	rest := ms[:0]
	for i, m := range ms {
		switch {
		case m.GetType() == raftpb.MsgProp:
			if !r.propq.offer(m) {
				r.dropped(m)
			}
		case len(rest) == i:
			// Nothing removed yet: m is in place already, and storing it
			// again would cost a write barrier while the GC runs.
			rest = rest[:i+1]
		default:
			rest = append(rest, m)
		}
	}
	for _, m := range rest[r.recvq.offerAll(rest):] {
		r.dropped(m)
	}
}

// dropped reports m, refused by a full receive queue.
func (r *streamReader) dropped(m *raftpb.Message) {
	msg := "dropped Raft message since receiving buffer is full (overloaded network)"
	if r.status.isActive() {
		msg = "dropped internal Raft message since receiving buffer is full (overloaded network)"
	}
	from := types.ID(m.GetFrom()).String()
	r.lg.Warn(msg, zap.Stringer("message-type", m.GetType()), zap.String("from", from))
	r.env.metrics.recvFailures.WithLabelValues(from).Inc()
}

// dial opens the stream and checks the peer's answer; on success the
// caller owns the returned body.
func (r *streamReader) dial(ctx context.Context) (io.ReadCloser, error) {
	picked := r.picker.pick()
	u := picked
	u.Path = r.typ.endpoint() + "/" + r.env.local.String()
	r.lg.Debug("dial stream reader", zap.String("address", u.String()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		r.picker.unreachable(picked)
		return nil, fmt.Errorf("failed to make http request to %v (%w)", u.String(), err)
	}
	r.env.setRequestHeaders(req.Header)
	req.Header.Set(hdrRaftTo, r.peerID.String())
	resp, err := r.env.streamRt.RoundTrip(req)
	if err != nil {
		if ctx.Err() == nil {
			r.picker.unreachable(picked)
		}
		return nil, err
	}
	if err := r.checkDialResponse(resp); err != nil {
		discardBody(resp.Body)
		r.picker.unreachable(picked)
		return nil, err
	}
	return resp.Body, nil
}

// checkDialResponse accepts a 200 from a peer that serves streams and
// explains anything else.
func (r *streamReader) checkDialResponse(resp *http.Response) error {
	v, err := parseMajorMinor(headerVersion(resp.Header, hdrServerVersion))
	if err != nil {
		return fmt.Errorf("%w: %v", errIncompatibleVersion, err)
	}
	if !supportsStreams(v) {
		return errUnsupportedStreamType
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusGone:
		r.env.reportCritical(errMemberRemoved)
		return errMemberRemoved
	case http.StatusNotFound:
		return fmt.Errorf("peer %s failed to find local node %s", r.peerID, r.env.local)
	case http.StatusPreconditionFailed:
		return r.preconditionFailed(resp)
	default:
		return fmt.Errorf("unhandled http status %d", resp.StatusCode)
	}
}

func (r *streamReader) preconditionFailed(resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return err
	}
	switch body := strings.TrimSuffix(string(b), "\n"); body {
	case errIncompatibleVersion.Error():
		r.lg.Warn("request sent was ignored by remote peer due to server version incompatibility",
			zap.Error(errIncompatibleVersion))
		return errIncompatibleVersion
	case ErrClusterIDMismatch.Error():
		r.lg.Warn("request sent was ignored by remote peer due to cluster ID mismatch",
			zap.String("remote-peer-cluster-id", resp.Header.Get(hdrClusterID)),
			zap.Stringer("local-member-cluster-id", r.env.cluster),
			zap.Error(ErrClusterIDMismatch))
		return ErrClusterIDMismatch
	default:
		return fmt.Errorf("unhandled error %q when precondition failed", body)
	}
}

// discardBody reads a little of an unwanted body, so a short reply leaves
// the connection clean, and closes it.
func discardBody(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxResponseBody))
	body.Close()
}
