package rafthttp

import "fmt"

// Header names and the version rule, exported for programs that talk to a
// peer port from outside a Transport, such as cmd/rafthttp-doctor. The
// values are the ones in protocol.go; Go canonicalises the spelling on the
// wire.
const (
	HeaderServerFrom        = hdrServerFrom
	HeaderServerVersion     = hdrServerVersion
	HeaderMinClusterVersion = hdrMinClusterVersion
	HeaderClusterID         = hdrClusterID
	HeaderRaftTo            = hdrRaftTo
	HeaderPeerURLs          = hdrPeerURLs
)

// DefaultMinClusterVersion is the X-Min-Cluster-Version a Transport announces
// unless MinClusterVersion overrides it, as every etcd v3 release does.
const DefaultMinClusterVersion = defaultMinClusterVersion

// CheckPeerVersions applies the rule a member announcing localServer and
// localMinCluster applies to a request announcing remoteServer and
// remoteMinCluster, comparing major.minor only: the remote server must be
// at least the local minimum, and the remote minimum at most the local
// server. An empty version stands for a peer too old to send it (2.0.0).
// It returns nil when the two can talk, else an error saying which side
// is too old; a malformed version is an error too.
func CheckPeerVersions(localServer, localMinCluster, remoteServer, remoteMinCluster string) error {
	var v [4]majorMinor
	for i, s := range []string{localServer, localMinCluster, remoteServer, remoteMinCluster} {
		if s == "" {
			s = absentVersion
		}
		mm, err := parseMajorMinor(s)
		if err != nil {
			return err
		}
		v[i] = mm
	}
	switch {
	case v[2].less(v[1]):
		return fmt.Errorf("%w: remote server %s is older than the local minimum cluster version %s", errIncompatibleVersion, v[2], v[1])
	case v[0].less(v[3]):
		return fmt.Errorf("%w: local server %s is older than the remote minimum cluster version %s", errIncompatibleVersion, v[0], v[3])
	}
	return nil
}
