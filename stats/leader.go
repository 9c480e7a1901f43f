package stats

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"

	"go.uber.org/zap"
)

// LeaderStats is kept by a leader and holds statistics about each follower
// it replicates to. Build it with NewLeaderStats; a zero LeaderStats has a
// nil Followers map and must not be used.
//
// Followers is exported, as in etcd, and guarded by the embedded Mutex.
// Prefer Follower, RemoveFollower and FollowerNames, which lock for you.
type LeaderStats struct {
	leaderFields
	sync.Mutex

	// Immutable:
	lg *zap.Logger
}

// leaderFields is the part of LeaderStats that JSON renders.
type leaderFields struct {
	// Leader is the leader's member ID as a hexadecimal string.
	Leader string `json:"leader"`
	// Followers maps a follower's member ID string to its stats.
	Followers map[string]*FollowerStats `json:"followers"`
}

// NewLeaderStats returns empty stats for the leader with member ID id. A nil
// lg discards logs.
func NewLeaderStats(lg *zap.Logger, id string) *LeaderStats {
	if lg == nil {
		lg = zap.NewNop()
	}
	return &LeaderStats{
		leaderFields: leaderFields{Leader: id, Followers: map[string]*FollowerStats{}},
		lg:           lg,
	}
}

// JSON renders the leader ID and a consistent view of every follower. It
// returns nil only if marshalling fails, which these fields cannot cause.
func (ls *LeaderStats) JSON() []byte {
	ls.Lock()
	view := leaderFields{Leader: ls.Leader, Followers: maps.Clone(ls.Followers)}
	ls.Unlock()

	b, err := json.Marshal(&view)
	if err != nil {
		ls.lg.Error("failed to marshal leader stats", zap.Error(err))
		return nil
	}
	return b
}

// Follower returns the stats for the follower called name, creating them on
// first use with Latency.Minimum set to 1<<63 so that any real sample is
// lower.
func (ls *LeaderStats) Follower(name string) *FollowerStats {
	ls.Lock()
	defer ls.Unlock()
	fs, ok := ls.Followers[name]
	if !ok {
		fs = &FollowerStats{}
		fs.Latency.Minimum = 1 << 63
		ls.Followers[name] = fs
	}
	return fs
}

// RemoveFollower forgets the follower called name. Removing an unknown
// follower does nothing. A *FollowerStats obtained earlier stays usable
// but is no longer reported.
func (ls *LeaderStats) RemoveFollower(name string) {
	ls.Lock()
	defer ls.Unlock()
	delete(ls.Followers, name)
}

// FollowerNames returns the names of all followers in ascending order. It
// returns an empty, non-nil slice when there are none.
func (ls *LeaderStats) FollowerNames() []string {
	ls.Lock()
	defer ls.Unlock()
	names := make([]string, 0, len(ls.Followers))
	names = slices.AppendSeq(names, maps.Keys(ls.Followers))
	slices.Sort(names)
	return names
}
