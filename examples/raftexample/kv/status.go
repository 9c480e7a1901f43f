package kv

import (
	"time"

	"github.com/rafthttp/rafthttp/types"
)

// Status is the JSON body of GET /status.
type Status struct {
	ID     uint64 `json:"id"`
	Leader uint64 `json:"leader"` // 0 while there is none
	Term   uint64 `json:"term"`
	// State is the raft role: StateFollower, StateCandidate, StateLeader
	// or StatePreCandidate.
	State         string `json:"state"`
	AppliedIndex  uint64 `json:"applied_index"`
	CommitIndex   uint64 `json:"commit_index"`
	SnapshotIndex uint64 `json:"snapshot_index"`
	// FirstIndex is the oldest entry still in the in-memory log; a
	// follower that needs an older one gets a snapshot.
	FirstIndex uint64 `json:"first_index"`
	Keys       int    `json:"keys"`
	// Snapshots counts snapshots since the process started.
	Snapshots SnapshotCounts `json:"snapshots"`
	Peers     []PeerStatus   `json:"peers"`
}

// SnapshotCounts are the snapshot counters of a Status.
type SnapshotCounts struct {
	Created  uint64 `json:"created"`
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	// LastReceivedBytes and LastReceivedIndex describe the last snapshot
	// received from the leader.
	LastReceivedBytes int64  `json:"last_received_bytes"`
	LastReceivedIndex uint64 `json:"last_received_index"`
}

// PeerStatus describes one member as this node sees it.
type PeerStatus struct {
	ID  uint64 `json:"id"`
	URL string `json:"url"`
	// Active reports whether the Transport has a working connection to
	// the member (always true for the node itself).
	Active      bool       `json:"active"`
	ActiveSince *time.Time `json:"active_since,omitempty"`
}

// Status reports the node's raft and storage state.
func (n *Node) Status() Status {
	rs := n.raft.Status()
	first, _ := n.storage.FirstIndex()
	c := &n.counters
	s := Status{
		ID: n.cfg.ID, Leader: rs.Lead, Term: rs.GetTerm(), State: rs.RaftState.String(),
		AppliedIndex: n.applied.Load(), CommitIndex: rs.GetCommit(), SnapshotIndex: n.snapIndex.Load(),
		FirstIndex: first, Keys: n.state.keys(),
		Snapshots: SnapshotCounts{
			Created: c.snapshotsCreated.Load(), Sent: c.snapshotsSent.Load(),
			Received: c.snapshotsReceived.Load(), LastReceivedBytes: c.lastRecvBytes.Load(),
			LastReceivedIndex: c.lastRecvIndex.Load(),
		},
		Peers: []PeerStatus{},
	}
	for _, id := range n.state.memberIDs() {
		u, _ := n.state.member(id)
		p := PeerStatus{ID: id, URL: u, Active: id == n.cfg.ID}
		if since := n.transport.ActiveSince(types.ID(id)); !since.IsZero() {
			p.Active, p.ActiveSince = true, &since
		}
		s.Peers = append(s.Peers, p)
	}
	return s
}
