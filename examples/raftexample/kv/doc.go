// Package kv is a replicated key-value store built on go.etcd.io/raft/v3
// and the rafthttp Transport. It is the library behind the raftexample
// command.
//
// # Data flow
//
// A PUT becomes a raft proposal carrying a random request ID. The Node's run
// loop, the only goroutine that touches raft's Ready, handles each Ready in
// the order raft requires:
//
//  1. persist the hard state and entries (or a received snapshot) to the
//     write-ahead log and fsync;
//  2. send messages through the Transport, MsgSnap through SendSnapshot
//     with the state-machine file streamed behind it;
//  3. apply committed entries to the state machine, waking the PUT that
//     proposed each one;
//  4. Advance, then take a snapshot if SnapshotCount entries were applied
//     since the last one.
//
// # Files
//
// Under Config.DataDir:
//
//	raft.wal                     the write-ahead log (see WAL)
//	snap/<index>.snap.db         the state machine at <index>, written by
//	                             the snap package (ours or received)
//
// A snapshot rewrites the log to start at the snapshot, so the log holds at
// most the entries applied since the last snapshot. Restart rebuilds raft's
// MemoryStorage from the newest snapshot plus the log.
package kv
