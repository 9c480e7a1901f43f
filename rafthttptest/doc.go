// Package rafthttptest runs in-process clusters of rafthttp Transports on
// loopback HTTP servers, with faults injected between them, so services
// built on rafthttp can be tested under partitions, slow links, half-open
// peers and restarts.
//
// Every connection between two members is dialled and accepted through a
// fault layer that wraps the sockets. Faults are set per directed link
// (from → to) and are applied to the bytes that cross it: partitions,
// latency, bandwidth caps, resets and blackholes. Bytes a partition,
// blackhole or stall keeps from a connection that stays open are held
// back, never lost: the writer stalls once the socket buffers fill, and
// after healing the bytes flow on in order, as over TCP, unless a
// Transport timed out and closed the connection meanwhile. (A close with
// nothing held ahead of it still gets through.) Message loss as raft sees
// it (DropMessages) is applied between the Transport and the member's
// Raft. Nothing is hooked inside the Transport itself.
//
// A bandwidth (SetBandwidth) makes a direction one slow link: a single
// FIFO queue, as in a router's or NIC's buffer, that all the direction's
// connections feed and that sends at the link's rate in arrival order.
// Its depth (SetQueue; by default 100 ms of the rate, at most 4 MiB) is
// how long a byte may wait behind others: a heartbeat on a stream waits
// for whatever a snapshot on another connection queued before it, as on
// a real congested link. Bytes that do not fit are not dropped: their
// connection stops reading its socket until they do, and its writer
// stalls once the socket buffers fill, as TCP's flow control would make
// it.
//
// Large transfers get byte-level faults: CutAfter resets a connection
// right after its n-th byte, FlipByte inverts one byte in flight, and
// Stall holds a link's bytes back for a while. The first two are one-shot
// and count bytes per connection, so a cut sized for a snapshot body
// lands on the snapshot's POST and not on a stream carrying heartbeats on
// the same link.
//
// A Proxy puts the same fault layer, per direction, between any client
// and server on loopback: a Transport a Cluster does not run (etcd's, for
// comparison) can be given its address as a peer URL.
//
// Members deliver to a Recorder unless WithRaft supplies a Raft. The
// package is meant for tests: NewCluster takes a testing.TB and registers
// the cluster's shutdown with its Cleanup.
package rafthttptest
