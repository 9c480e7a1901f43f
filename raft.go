package rafthttp

import (
	"context"
	"net/http"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/rafthttp/rafthttp/snap"
	"github.com/rafthttp/rafthttp/types"
)

// Raft is what the Transport delivers to: usually a thin wrapper around a
// raft.Node owned by the application.
type Raft interface {
	// Process hands a received message to raft. It is called from one
	// goroutine per peer for proposals and one for everything else, and
	// synchronously from the HTTP handlers for pipeline and snapshot
	// messages. An error that has a WriteTo(http.ResponseWriter) method
	// chooses the HTTP reply itself.
	Process(ctx context.Context, m *raftpb.Message) error
	// ReportSnapshot tells raft how sending a snapshot to id ended.
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
	// ReportUnreachable tells raft a message to id could not be sent.
	ReportUnreachable(id uint64)
	// IsIDRemoved reports whether id was removed from the cluster; such a
	// member's stream requests are refused with 410 Gone.
	IsIDRemoved(id uint64) bool
}

// Transporter is the interface etcd's server uses; *Transport implements
// it.
type Transporter interface {
	// Start must be called before any other method.
	Start() error
	// Stop closes every connection and waits for every goroutine.
	Stop()
	// Handler serves peers' requests; mount it at RaftPrefix.
	Handler() http.Handler

	// AddPeer adds a member and starts its streams.
	AddPeer(id types.ID, peerURLs []string)
	// UpdatePeer replaces a member's URLs.
	UpdatePeer(id types.ID, peerURLs []string)
	// RemovePeer stops and removes a member. Unknown IDs are ignored.
	RemovePeer(id types.ID)
	// RemoveAllPeers removes every member.
	RemoveAllPeers()
	// AddRemote adds a pipeline-only target that helps a new member catch
	// up. It is ignored if id is already a peer or a remote.
	AddRemote(id types.ID, peerURLs []string)

	// Send queues messages without blocking. Messages to unknown members
	// or with To == 0 are ignored.
	Send(msgs []*raftpb.Message)
	// SendSnapshot streams a merged snapshot to its target.
	SendSnapshot(m *snap.Message)

	// ActivePeers returns how many members are currently active.
	ActivePeers() int
	// ActiveSince returns when the member's connection became active, or
	// the zero time if it is inactive or unknown.
	ActiveSince(id types.ID) time.Time
}

// Pausable is implemented by the Transport and its peers; it stops traffic
// without closing connections, for tests and for pausing a server.
type Pausable interface {
	Pause()
	Resume()
}
