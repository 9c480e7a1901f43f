// Package stats keeps the version-2 style statistics that rafthttp updates
// as it sends and receives raft messages: per-server append counters and
// rates (ServerStats), and per-follower latency and outcome counts kept by
// a leader (LeaderStats and FollowerStats). Each type renders itself as the
// JSON document etcd serves under /v2/stats.
//
// Exported names, struct shapes and JSON field names match etcd's
// etcdserver/api/v2stats, so callers port by changing the import path. All
// methods are safe for concurrent use; unlike etcd, JSON never reads a
// follower while it is being updated, LeaderStats.RemoveFollower deletes
// under the stats' own lock, and rates or deviations that would not be
// finite are reported as zero so that JSON never fails.
package stats
