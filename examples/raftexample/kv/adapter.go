package kv

import (
	"context"
	"net/http"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp"
)

// raftAdapter is what the Transport delivers to: the node's raft.Node plus
// the membership the state machine knows.
type raftAdapter struct{ n *Node }

var _ rafthttp.Raft = raftAdapter{}

// Process steps m into raft, refusing messages from removed members with
// 403, which their Transport reports as "member removed".
func (a raftAdapter) Process(ctx context.Context, m *raftpb.Message) error {
	if a.n.state.isRemoved(m.GetFrom()) {
		return errFromRemoved{}
	}
	return a.n.raft.Step(ctx, m)
}

func (a raftAdapter) IsIDRemoved(id uint64) bool { return a.n.state.isRemoved(id) }

func (a raftAdapter) ReportUnreachable(id uint64) { a.n.raft.ReportUnreachable(id) }

func (a raftAdapter) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	a.n.raft.ReportSnapshot(id, status)
}

// errFromRemoved writes its own reply through the Transport's pipeline and
// snapshot handlers.
type errFromRemoved struct{}

func (errFromRemoved) Error() string { return "kv: message from a removed member" }

func (e errFromRemoved) WriteTo(w http.ResponseWriter) {
	http.Error(w, e.Error(), http.StatusForbidden)
}

// raftLogger routes raft's logs to zap. raft expects Fatal and Panic not
// to return; both panic, as raft's own default logger would for Panic.
type raftLogger struct{ s *zap.SugaredLogger }

func newRaftLogger(lg *zap.Logger) raft.Logger {
	return raftLogger{lg.Named("raft").WithOptions(zap.AddCallerSkip(1)).Sugar()}
}

func (l raftLogger) Debug(v ...any)                 { l.s.Debug(v...) }
func (l raftLogger) Debugf(format string, v ...any) { l.s.Debugf(format, v...) }
func (l raftLogger) Error(v ...any)                 { l.s.Error(v...) }
func (l raftLogger) Errorf(format string, v ...any) { l.s.Errorf(format, v...) }
func (l raftLogger) Info(v ...any)                  { l.s.Info(v...) }
func (l raftLogger) Infof(format string, v ...any)  { l.s.Infof(format, v...) }
func (l raftLogger) Warning(v ...any)               { l.s.Warn(v...) }
func (l raftLogger) Warningf(format string, v ...any) {
	l.s.Warnf(format, v...)
}
func (l raftLogger) Fatal(v ...any)                 { l.s.Panic(v...) }
func (l raftLogger) Fatalf(format string, v ...any) { l.s.Panicf(format, v...) }
func (l raftLogger) Panic(v ...any)                 { l.s.Panic(v...) }
func (l raftLogger) Panicf(format string, v ...any) { l.s.Panicf(format, v...) }
