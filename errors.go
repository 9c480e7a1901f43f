package rafthttp

import "errors"

// Errors a caller may branch on.
var (
	// ErrClusterIDMismatch is returned when a peer belongs to another cluster.
	ErrClusterIDMismatch = errors.New("cluster ID mismatch")
	// ErrExceedSizeLimit is returned when a length read from the wire is
	// larger than the configured limit; the payload is not read.
	ErrExceedSizeLimit = errors.New("rafthttp: error limit exceeded")
	// ErrStopped is returned by operations attempted after Transport.Stop.
	ErrStopped = errors.New("stopped")
)

// Errors with the exact texts etcd peers send and match.
var (
	errIncompatibleVersion   = errors.New("incompatible version")
	errMemberRemoved         = errors.New("the member has been permanently removed from the cluster")
	errMemberNotFound        = errors.New("member not found")
	errUnsupportedStreamType = errors.New("unsupported stream type")
	errStreamClosedByPeer    = errors.New("stream closed by peer")
)
