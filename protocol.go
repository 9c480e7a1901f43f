package rafthttp

import (
	"strings"
	"time"
)

// Paths served by Transport.Handler. Mount the handler so that every path
// starting with RaftPrefix reaches it.
const (
	// RaftPrefix is the pipeline endpoint: one protobuf raft message per POST.
	RaftPrefix = "/raft"
	// ProbingPrefix answers health probes with the local time.
	ProbingPrefix = RaftPrefix + "/probing"
	// RaftStreamPrefix roots the long-lived GET streams:
	// RaftStreamPrefix + "/message/<from>" and RaftStreamPrefix + "/msgapp/<from>".
	RaftStreamPrefix = RaftPrefix + "/stream"
	// RaftSnapshotPrefix receives a MsgSnap envelope followed by the DB bytes.
	RaftSnapshotPrefix = RaftPrefix + "/snapshot"
)

// Connection timeouts used when the Transport leaves them zero.
const (
	// DefaultConnReadTimeout bounds the wait for the next byte on a peer
	// connection. Stream writers send a link heartbeat every third of it.
	DefaultConnReadTimeout = 5 * time.Second
	// DefaultConnWriteTimeout bounds one write on a peer connection.
	DefaultConnWriteTimeout = 5 * time.Second
)

// Names of the two round trippers, as they appear in prober logs.
const (
	RoundTripperNameRaftMessage = "ROUND_TRIPPER_RAFT_MESSAGE"
	RoundTripperNameSnapshot    = "ROUND_TRIPPER_SNAPSHOT"
)

// Versions announced in X-Server-Version and X-Min-Cluster-Version when the
// Transport does not override them. They match etcd v3.7.4, so real etcd
// peers accept us as a member of their own generation.
const (
	defaultServerVersion     = "3.7.4"
	defaultMinClusterVersion = "3.0.0"
	// absentVersion is assumed for a peer that sends no version header.
	absentVersion = "2.0.0"
)

// HTTP headers of the protocol. Go canonicalises header keys, so the spelling
// here is only for readers; "X-PeerURLs" travels as "X-Peerurls".
const (
	hdrServerFrom        = "X-Server-From"
	hdrServerVersion     = "X-Server-Version"
	hdrMinClusterVersion = "X-Min-Cluster-Version"
	hdrClusterID         = "X-Etcd-Cluster-ID"
	hdrRaftTo            = "X-Raft-To"
	hdrPeerURLs          = "X-PeerURLs"
	hdrContentType       = "Content-Type"
	hdrAllow             = "Allow"
)

// Content types of the two POST endpoints.
const (
	contentTypeProtobuf    = "application/protobuf"
	contentTypeOctetStream = "application/octet-stream"
)

// unknownSnapshotSender labels snapshot receive failures that happen before
// the sender is known (bad method, failed compatibility check).
const unknownSnapshotSender = "UNKNOWN_SNAPSHOT_SENDER"

// Names of the channels a message can leave through; used in logs.
const (
	channelStreamMsgAppV2 = "streamMsgAppV2"
	channelStreamMsg      = "streamMsg"
	channelPipeline       = "pipeline"
	channelSnapshot       = "sendMsgSnap"
)

// splitPeerURLs parses the X-PeerURLs header value.
func splitPeerURLs(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
