// Package snap carries database snapshots between rafthttp peers.
//
// A Message pairs a raft MsgSnap with the stream of database bytes that
// follows it on the wire; the sender learns how the transfer ended through
// CloseNotify. A Snapshotter stores a received database stream in a
// directory as "<index as 16 hex digits>.snap.db", writing it through a
// temporary file so that a failed transfer never leaves a partial file.
//
// The exported names match the parts of etcd's etcdserver/api/snap that
// rafthttp uses, so callers port by changing the import path.
package snap
