package rafthttp

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/stats"
	"github.com/rafthttp/rafthttp/transport"
	"github.com/rafthttp/rafthttp/types"
)

// Transport carries raft messages between cluster members over HTTP, byte
// for byte as etcd's rafthttp does. Fill in the fields, call Start, mount
// Handler on the peer listener, then add peers. Every field is optional
// except Raft; zero values mean etcd's defaults.
type Transport struct {
	// Logger receives the Transport's logs; nil discards them.
	Logger *zap.Logger

	// DialTimeout bounds connecting to a peer; zero means no bound beyond
	// the operating system's.
	DialTimeout time.Duration
	// DialRetryFrequency limits how often a broken stream is redialled;
	// zero means 10 per second.
	DialRetryFrequency rate.Limit

	// TLSInfo configures TLS for https peer URLs.
	TLSInfo transport.TLSInfo

	// ID is the local member's ID.
	ID types.ID
	// URLs are the local member's peer URLs, announced in X-PeerURLs so
	// peers that do not know us yet can answer; nil announces nothing.
	URLs types.URLs
	// ClusterID must match the peers' cluster ID.
	ClusterID types.ID
	// Raft receives messages and reports. Required.
	Raft Raft
	// Snapshotter stores received snapshot DBs; without one, snapshots
	// sent to this member are refused with 500.
	Snapshotter *snap.Snapshotter
	// ServerStats, if set, counts MsgApp sent.
	ServerStats *stats.ServerStats
	// LeaderStats tracks per-follower latency; nil means the Transport
	// keeps its own.
	LeaderStats *stats.LeaderStats

	// ErrorC receives an error when the cluster reports this member
	// removed. Sends never block: if it is full or nil, the error is only
	// logged.
	ErrorC chan error

	// The fields below are additions to etcd's Transport.

	// ConnReadTimeout is the longest a stream may stay silent before the
	// reader gives up on it; writers send heartbeats three times as often.
	// Zero means DefaultConnReadTimeout.
	ConnReadTimeout time.Duration
	// ConnWriteTimeout bounds each write to a stream; zero means
	// DefaultConnWriteTimeout. On Linux it is also the TCP_USER_TIMEOUT of
	// every connection the Transport dials: data left unacknowledged that
	// long ends the connection, even when no write is blocked.
	ConnWriteTimeout time.Duration
	// DialContext dials peers; nil means a net.Dialer with DialTimeout,
	// connecting from TLSInfo.LocalAddr if set (Start fails if both are).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Registerer receives the etcd_network_* metrics; nil registers none.
	// Transports sharing a Registerer share the collectors.
	Registerer prometheus.Registerer
	// ServerVersion and MinClusterVersion are announced to peers; empty
	// means etcd v3.7.4's "3.7.4" and "3.0.0".
	ServerVersion     string
	MinClusterVersion string
	// Limits and buffer sizes; zero means etcd's value.
	Limits Limits
	// VerifyPeerIdentity, if set, binds requests to members: every member
	// ID a request claims (X-Server-From, the stream path, the From of the
	// message it carries) must be accepted by VerifyPeerIdentity for the
	// request's TLS client certificate, or the request is answered 403;
	// and a stream we dial must be answered by a server whose certificate
	// is accepted for the member dialled. VerifyMemberURI implements the
	// URI SAN convention of MemberURI. Nil (etcd's behaviour) checks
	// nothing beyond TLSInfo. See docs/security.md.
	VerifyPeerIdentity func(id types.ID, cert *x509.Certificate) error

	mu      sync.RWMutex
	env     *env // nil before Start and after Stop
	stopped bool
	peers   map[types.ID]*peer
	remotes map[types.ID]*remote
	probers *probers
}

var _ Transporter = (*Transport)(nil)
var _ Pausable = (*Transport)(nil)

// Start validates the configuration and prepares the Transport. It must
// be called once, before any other method.
func (t *Transport) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.env != nil || t.stopped {
		return errors.New("rafthttp: Transport already started")
	}
	if t.Raft == nil {
		return errors.New("rafthttp: Transport.Raft is nil")
	}
	e, err := t.newEnv()
	if err != nil {
		return err
	}
	t.env = e
	t.peers = make(map[types.ID]*peer)
	t.remotes = make(map[types.ID]*remote)
	t.probers = newProbers(e)
	return nil
}

// handlerEnv returns the shared state for an HTTP handler, or nil if the
// Transport is not running.
func (t *Transport) handlerEnv() *env {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.env
}

// Get returns the peer with the given ID, or nil.
func (t *Transport) Get(id types.ID) Peer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p, ok := t.peers[id]; ok {
		return p
	}
	return nil
}

// Send queues each message for its target without blocking. Messages with
// To == 0 or to unknown targets are skipped.
func (t *Transport) Send(msgs []*raftpb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var apps, appBytes int
	for len(msgs) > 0 {
		to := types.ID(msgs[0].GetTo())
		run := 1
		for run < len(msgs) && types.ID(msgs[run].GetTo()) == to {
			run++
		}
		a, b := t.sendTo(to, msgs[:run])
		apps, appBytes = apps+a, appBytes+b
		msgs = msgs[run:]
	}
	if apps > 0 {
		// Recorded once per call: the clock reading is the costly part.
		t.env.server.SendAppendReqs(apps, appBytes)
	}
}

// sendTo queues msgs, all bound for to, on its peer or remote, and
// returns the count and bytes of MsgApps among them that went to a peer
// and that Send records in ServerStats (see peer.sendAll). The caller
// holds t.mu.
func (t *Transport) sendTo(to types.ID, msgs []*raftpb.Message) (apps, appBytes int) {
	if to == 0 {
		return 0, 0
	}
	if p, ok := t.peers[to]; ok {
		return p.sendAll(msgs)
	}
	if r, ok := t.remotes[to]; ok {
		for _, m := range msgs {
			r.send(m)
		}
		return 0, 0
	}
	if t.env != nil {
		for _, m := range msgs {
			t.env.lg.Debug("ignored message send request; unknown remote peer target",
				zap.Stringer("type", m.GetType()), zap.Stringer("unknown-target-peer-id", to))
		}
	}
	return 0, 0
}

// appendRequests counts the MsgApps among msgs and their bytes.
func appendRequests(msgs []*raftpb.Message) (count, bytes int) {
	for _, m := range msgs {
		if m.GetType() == raftpb.MsgApp {
			count, bytes = count+1, bytes+messageSize(m)
		}
	}
	return count, bytes
}

// SendSnapshot streams m to its target in the background. The result
// arrives on m.CloseNotify(): true once the peer has saved and processed
// it, false otherwise.
func (t *Transport) SendSnapshot(m *snap.Message) {
	t.mu.RLock()
	p, ok := t.peers[types.ID(m.GetTo())]
	stopped := t.env == nil
	t.mu.RUnlock()
	if ok && !stopped {
		p.sendSnap(m)
		return
	}
	// Unlike etcd, raft hears of every failed snapshot, not only of those
	// that failed in flight, so its progress never stays stuck. It hears
	// before the caller's CloseNotify fires, as for a send that failed.
	if t.Raft != nil {
		t.Raft.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
	}
	if stopped {
		m.CloseWithError(ErrStopped)
	} else {
		m.CloseWithError(errMemberNotFound)
	}
}

// ActiveSince returns when the peer became active, or the zero time.
func (t *Transport) ActiveSince(id types.ID) time.Time {
	t.mu.RLock()
	p := t.peers[id]
	t.mu.RUnlock()
	if p == nil {
		return time.Time{}
	}
	return p.activeSince()
}

// ActivePeers returns the number of peers currently active.
func (t *Transport) ActivePeers() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := 0
	for _, p := range t.peers {
		if !p.activeSince().IsZero() {
			n++
		}
	}
	return n
}

// Stop closes all connections and waits for every goroutine the Transport
// started. Handlers answer 503 afterwards. Stop may be called more than
// once.
func (t *Transport) Stop() {
	t.mu.Lock()
	e, peers, remotes, pr := t.env, t.peers, t.remotes, t.probers
	t.env, t.peers, t.remotes, t.probers, t.stopped = nil, nil, nil, nil, true
	t.mu.Unlock()
	if e == nil {
		return
	}
	pr.removeAll()
	var wg sync.WaitGroup
	for _, r := range remotes {
		wg.Go(r.stop)
	}
	for _, p := range peers {
		wg.Go(p.stop)
	}
	wg.Wait()
	e.snapshots.partials.close()
	closeIdle(e.streamRt)
	closeIdle(e.pipelineRt)
	closeIdle(e.snapshotRt)
}

func closeIdle(rt http.RoundTripper) {
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
