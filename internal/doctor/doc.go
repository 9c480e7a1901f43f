// Package doctor diagnoses the peer network of an etcd or rafthttp cluster
// from the outside, as cmd/rafthttp-doctor does: for each peer URL it
// times the TCP connect, inspects TLS, reads the versions and the cluster
// ID the peer answers with, measures round-trip time and clock drift over
// /raft/probing, and walks the stream handshake up to the member check.
// It then gives every peer one verdict with the likely cause and what to do.
//
// # It never changes the cluster
//
// Every request is a read: GET /version, GET /members, /raft/probing, and
// two stream GETs (/raft/stream/message/<id> and /raft/stream/msgapp/<id>)
// whose sender ID is not a member, so the peer answers 404 "error sender
// not found" at its member check, before anything that could attach a
// stream. The stream GETs carry no X-PeerURLs header, which is what would
// make the peer learn the sender as a remote. No pipeline or snapshot POST
// is ever sent, so no raft message is delivered and no member is added.
//
// Each stream GET leaves one warning in the peer's log, naming the sender
// ID (0x646f63746f72, "doctor" in ASCII, unless overridden). etcd v3.4 with
// --logger=zap writes "failed to find remote peer in cluster"; with the
// default capnslog logger "rafthttp: failed to find member 646f63746f72 in
// cluster <cluster-id>"; a rafthttp Transport writes
// "failed to find remote peer in cluster". When the cluster ID is not
// known in advance (a peer without /members), one extra stream GET without
// a cluster ID learns it from the 412 reply and leaves "request cluster ID
// mismatch".
package doctor
