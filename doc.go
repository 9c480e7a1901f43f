// Package rafthttp carries raft messages between the members of a cluster
// over HTTP, speaking exactly the protocol of etcd's rafthttp, so a member
// built on it can join a cluster of real etcd peers. It depends on
// go.etcd.io/raft/v3 for the message types and on nothing from etcd's
// server.
//
// # Architecture
//
// A Transport owns one peer per cluster member, plus optional remotes
// (pipeline-only targets that help a new member catch up). Each peer has:
//
//   - two stream writers, one per stream type ("message" and "msgappv2").
//     Streams are opened by the receiver: member B gets A's messages on the
//     body of a GET that B sent to A's RaftStreamPrefix. A's handler gives
//     that response to A's peer for B, whose writer encodes into it.
//   - two stream readers, which dial the member's streams and feed what
//     arrives to raft through two queues (proposals have their own, since
//     Raft.Process may block them while there is no leader).
//   - a pipeline: a few workers that POST one message per request to
//     RaftPrefix, used for MsgSnap and while no stream works.
//   - a snapshot sender, which POSTs a MsgSnap envelope followed by the
//     state machine's DB bytes to RaftSnapshotPrefix.
//
// Send never blocks: it picks a channel (MsgSnap → pipeline; MsgApp →
// msgappv2 stream if working; anything → message stream if working;
// otherwise pipeline) and drops the message if that channel's queue is
// full, telling raft through ReportUnreachable.
//
// Every goroutine belongs to a peer, a remote or the Transport, and Stop
// waits for all of them.
//
// # Differences from etcd
//
// The wire bytes are etcd's. Where etcd panics on peer input or leaves a
// race, this package returns errors, bounds sizes and owns its goroutines;
// README.md lists each deliberate difference.
package rafthttp
