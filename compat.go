package rafthttp

import (
	"net/http"

	"go.uber.org/zap"
)

// checkCompatibility applies the checks every handler makes before it
// looks at a request: both sides' versions must overlap and the request
// must come from our cluster. The returned error's text is the 412 body.
func (e *env) checkCompatibility(h http.Header) error {
	remoteServer := headerVersion(h, hdrServerVersion)
	remoteMin := headerVersion(h, hdrMinClusterVersion)
	fields := []zap.Field{
		zap.Stringer("local-member-id", e.local),
		zap.Stringer("local-member-cluster-id", e.cluster),
		zap.String("local-member-server-version", e.cfg.serverVersion),
		zap.String("local-member-server-minimum-cluster-version", e.cfg.minClusterVersion),
		zap.String("remote-peer-server-name", h.Get(hdrServerFrom)),
		zap.String("remote-peer-server-version", remoteServer),
		zap.String("remote-peer-server-minimum-cluster-version", remoteMin),
	}
	if reason := e.versionMismatch(remoteServer, remoteMin); reason != "" {
		e.lg.Warn("failed version compatibility check",
			append(fields, zap.String("error", reason))...)
		return errIncompatibleVersion
	}
	if got := h.Get(hdrClusterID); got != e.cluster.String() {
		e.lg.Warn("request cluster ID mismatch",
			append(fields, zap.String("remote-peer-cluster-id", got))...)
		return ErrClusterIDMismatch
	}
	return nil
}

// versionMismatch explains why a peer announcing these versions cannot
// talk to us, or returns "" if it can. Unparseable versions are a mismatch
// rather than a panic, unlike in etcd.
func (e *env) versionMismatch(remoteServer, remoteMin string) string {
	server, err := parseMajorMinor(remoteServer)
	if err != nil {
		return err.Error()
	}
	minCluster, err := parseMajorMinor(remoteMin)
	if err != nil {
		return err.Error()
	}
	if server.less(e.cfg.localMinCluster) {
		return "remote version is too low: remote=" + remoteServer + ", local minimum=" + e.cfg.minClusterVersion
	}
	if e.cfg.localServer.less(minCluster) {
		return "local version is too low: remote minimum=" + remoteMin + ", local=" + e.cfg.serverVersion
	}
	return ""
}
