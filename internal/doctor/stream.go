package doctor

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/rafthttp/rafthttp"
)

// Path segments of the two stream types; msgappv2 travels as "msgapp".
const (
	streamMessage = "message"
	streamMsgApp  = "msgapp"
)

// senderNotFound is the reply of a peer's member check to a sender that is
// not a member: every check before it (method, versions, cluster ID, path,
// sender ID syntax, removed members) has passed.
const senderNotFound = "error sender not found"

// streamHeaders are the headers of a stream dial from a non-member,
// without X-PeerURLs so the peer does not learn it as a remote.
func streamHeaders(from uint64, to, clusterID, serverVersion string) http.Header {
	h := http.Header{}
	h.Set(rafthttp.HeaderServerFrom, strconv.FormatUint(from, 16))
	h.Set(rafthttp.HeaderServerVersion, serverVersion)
	h.Set(rafthttp.HeaderMinClusterVersion, rafthttp.DefaultMinClusterVersion)
	if clusterID != "" {
		h.Set(rafthttp.HeaderClusterID, clusterID)
	}
	if to != "" {
		h.Set(rafthttp.HeaderRaftTo, to)
	}
	return h
}

// announcedVersion is the X-Server-Version the doctor sends: the peer's own
// version when known, so that the peer's version check passes whatever its
// minimum, else the oldest version every v3 member accepts.
func announcedVersion(peerServer string) string {
	if peerServer != "" {
		return peerServer
	}
	return rafthttp.DefaultMinClusterVersion
}

// learnClusterID asks a peer that serves no /members for its cluster ID
// and server version: a stream GET without a cluster ID is refused with
// 412 before the path is even looked at, and the reply carries both.
func learnClusterID(ctx context.Context, pc *peerClient, from uint64) (clusterID, server string, err error) {
	path := rafthttp.RaftStreamPrefix + "/" + streamMessage + "/" + strconv.FormatUint(from, 16)
	r, err := pc.dialStream(ctx, path, streamHeaders(from, "", "", rafthttp.DefaultMinClusterVersion))
	if err != nil {
		return "", "", err
	}
	return r.header.Get(rafthttp.HeaderClusterID), r.header.Get(rafthttp.HeaderServerVersion), nil
}

// streamCheck dials one stream type as a non-member and records how far
// the handshake got. A 200 would mean the sender ID is a member after all:
// the body is closed at once, before the peer writes anything to it.
func streamCheck(ctx context.Context, pc *peerClient, typ string, hdr http.Header) StreamCheck {
	c := StreamCheck{Type: typ}
	path := rafthttp.RaftStreamPrefix + "/" + typ + "/" + hdr.Get(rafthttp.HeaderServerFrom)
	r, err := pc.dialStream(ctx, path, hdr)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Status, c.Body = r.status, strings.TrimSpace(truncate(r.body))
	c.ServerVersion = r.header.Get(rafthttp.HeaderServerVersion)
	c.ReachedMemberCheck = r.status == http.StatusNotFound && c.Body == senderNotFound
	return c
}
