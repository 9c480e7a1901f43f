package kv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/snap"
)

// ErrRemoved is returned by Node.Err and Node.Stop after the member was
// removed from the cluster.
var ErrRemoved = errors.New("kv: member removed from the cluster")

// Errors that answer a proposal with 503: its outcome is unknown.
var (
	errStopped       = errors.New("kv: node is stopping")
	errLeaderChanged = errors.New("kv: the leader changed before the change was applied; it may still be")
)

// shutdownTimeout bounds waiting for HTTP handlers when stopping.
const shutdownTimeout = 5 * time.Second

// Node is one member of the replicated key-value store: a raft node, its
// write-ahead log and snapshots, a rafthttp Transport and the client API.
type Node struct {
	// Immutable after Start:
	cfg         Config
	lg          *zap.Logger
	raft        raft.Node
	storage     *raft.MemoryStorage
	wal         *WAL
	snapshotter *snap.Snapshotter
	transport   *rafthttp.Transport
	metrics     *metrics
	state       *stateMachine
	waiters     *waiters
	peerSrv     *http.Server
	clientSrv   *http.Server
	peerLn      net.Listener
	clientLn    net.Listener
	errorc      chan error // the Transport's ErrorC

	// Owned by the run loop (and by Start before it):
	confState *raftpb.ConfState
	lead      uint64 // the leader as of the last Ready

	// Written by the run loop, read by /status:
	applied   atomic.Uint64
	snapIndex atomic.Uint64
	counters  counters

	stopc    chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when the run loop returns
	runErr   error         // why the run loop returned; read after done
	wg       sync.WaitGroup
	stopErr  error
}

// counters are reported by /status.
type counters struct {
	snapshotsCreated  atomic.Uint64
	snapshotsSent     atomic.Uint64
	snapshotsReceived atomic.Uint64
	lastRecvBytes     atomic.Int64
	lastRecvIndex     atomic.Uint64
}

// Start opens (or creates) the member's data, joins its peers and serves
// the client API until Stop. It returns once both listeners are open.
func Start(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, lg: cfg.Logger.With(zap.Uint64("member", cfg.ID)),
		storage: raft.NewMemoryStorage(), state: newStateMachine(), waiters: newWaiters(),
		errorc: make(chan error, 1), stopc: make(chan struct{}), done: make(chan struct{}),
	}
	st, err := n.openStorage()
	if err != nil {
		return nil, err
	}
	// Raft first: the Transport delivers to it as soon as peers connect.
	n.startRaft(st)
	if err := n.openNetwork(); err != nil {
		n.raft.Stop()
		_ = n.wal.Close()
		return nil, err
	}
	n.wg.Go(n.run)
	n.serve(n.peerSrv, n.peerLn)
	n.serve(n.clientSrv, n.clientLn)
	n.lg.Info("started", zap.String("peer-url", cfg.peerURL()), zap.Stringer("client-addr", n.clientLn.Addr()),
		zap.Uint64("applied", n.applied.Load()), zap.Bool("restarted", !st.Empty()))
	return n, nil
}

// openStorage opens the WAL and rebuilds the state machine and raft's
// storage from it and the newest snapshot.
func (n *Node) openStorage() (*WALState, error) {
	snapDir := filepath.Join(n.cfg.DataDir, "snap")
	if err := os.MkdirAll(snapDir, 0o700); err != nil {
		return nil, fmt.Errorf("kv: creating %s: %w", snapDir, err)
	}
	n.snapshotter = snap.New(n.cfg.Logger, snapDir)
	if err := n.snapshotter.RemoveTempFiles(); err != nil {
		return nil, err
	}
	w, st, err := OpenWAL(n.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n.wal = w
	if st.TruncatedBytes > 0 {
		n.lg.Warn("truncated torn tail of the write-ahead log", zap.Int64("bytes", st.TruncatedBytes))
	}
	if err := n.restore(st); err != nil {
		_ = w.Close()
		return nil, err
	}
	return st, nil
}

// restore loads the snapshot and the log into the state machine and raft's
// MemoryStorage.
func (n *Node) restore(st *WALState) error {
	if st.Snapshot != nil {
		index := st.Snapshot.GetIndex()
		s, _, err := n.loadDB(index)
		if err != nil {
			return err
		}
		n.state.replace(s)
		if err := n.storage.ApplySnapshot(&raftpb.Snapshot{Metadata: st.Snapshot}); err != nil {
			return fmt.Errorf("kv: restoring snapshot %d: %w", index, err)
		}
		n.confState = st.Snapshot.GetConfState()
		n.applied.Store(index)
		n.snapIndex.Store(index)
	}
	if err := n.storage.Append(st.Entries); err != nil {
		return fmt.Errorf("kv: restoring log: %w", err)
	}
	if st.HardState == nil {
		return nil
	}
	hs := fixCommit(st.HardState, st.Snapshot.GetIndex())
	if last, _ := n.storage.LastIndex(); hs.GetCommit() > last {
		return fmt.Errorf("%w: commit index %d is past the last entry %d", ErrCorrupt, hs.GetCommit(), last)
	}
	return n.storage.SetHardState(hs)
}

// Done is closed when the node stops serving: after Stop, after it was
// removed from the cluster, or after a fatal error (see Err).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns why the node stopped on its own (ErrRemoved or a storage
// error), or nil while it runs and after a plain Stop.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.runErr
	default:
		return nil
	}
}

// ClientAddr is the address the client API listens on.
func (n *Node) ClientAddr() net.Addr { return n.clientLn.Addr() }

// Stop shuts the node down and waits for all its goroutines. It returns
// Err, joined with any error from closing the log. It may be called more
// than once.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		close(n.stopc)
		<-n.done
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		n.raft.Stop() // handlers blocked in Propose return at once
		errs := []error{n.runErr, shutdown(ctx, n.clientSrv)}
		n.transport.Stop()
		errs = append(errs, shutdown(ctx, n.peerSrv))
		n.wg.Wait()
		errs = append(errs, n.wal.Close())
		n.stopErr = errors.Join(errs...)
	})
	return n.stopErr
}

// shutdown stops srv gracefully, then forcibly once ctx expires.
func shutdown(ctx context.Context, srv *http.Server) error {
	if err := srv.Shutdown(ctx); err != nil {
		return errors.Join(err, srv.Close())
	}
	return nil
}

// serve runs srv on ln until shutdown.
func (n *Node) serve(srv *http.Server, ln net.Listener) {
	n.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.lg.Error("HTTP server failed", zap.Stringer("addr", ln.Addr()), zap.Error(err))
		}
	})
}

// fixCommit returns hs with a commit index of at least snapIndex: a
// snapshot is committed by definition, and raft refuses a smaller commit.
func fixCommit(hs *raftpb.HardState, snapIndex uint64) *raftpb.HardState {
	if hs.GetCommit() >= snapIndex {
		return hs
	}
	return &raftpb.HardState{Term: hs.Term, Vote: hs.Vote, Commit: &snapIndex}
}
