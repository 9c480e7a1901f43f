package doctor

import (
	"fmt"
	"strings"
)

// verdictFor picks the first problem in the order a member would hit it:
// connecting, TLS, talking HTTP, identity, handshake, then health.
func verdictFor(cfg Config, p *peer, clusterID, versionIssue string) Verdict {
	for _, check := range []func() (Verdict, bool){
		func() (Verdict, bool) { return tcpVerdict(p.rep.TCP) },
		func() (Verdict, bool) { return tlsVerdict(cfg, p.rep.TLS) },
		func() (Verdict, bool) { return httpVerdict(p) },
		func() (Verdict, bool) { return identityVerdict(p.rep, clusterID, versionIssue) },
		func() (Verdict, bool) { return streamVerdict(p.rep.Stream) },
		func() (Verdict, bool) { return healthVerdict(cfg, p.rep) },
	} {
		if v, found := check(); found {
			return v
		}
	}
	return okVerdict(p.rep)
}

func fail(code, summary, cause, action string) (Verdict, bool) {
	return Verdict{Status: StatusFail, Code: code, Summary: summary, Cause: cause, Action: action}, true
}

func warn(code, summary, cause, action string) (Verdict, bool) {
	return Verdict{Status: StatusWarn, Code: code, Summary: summary, Cause: cause, Action: action}, true
}

func tcpVerdict(t TCPResult) (Verdict, bool) {
	summary := fmt.Sprintf("cannot connect to %s: %s", t.Address, t.Error)
	switch t.Failure {
	case "":
		return Verdict{}, false
	case "refused":
		return fail(CodeUnreachable, summary,
			"nothing listens on that port: the member is down, or it listens on another address than its peer URL",
			"start the member (check its service status and log on that host), or fix --listen-peer-urls / the URL")
	case "timeout":
		return fail(CodeUnreachable, summary,
			"connection attempts go unanswered: a firewall or security group drops them, the route is broken, or the host is down",
			"allow TCP to the peer port from every member and from here; check the host is up")
	case "dns":
		return fail(CodeUnreachable, summary, "the host name in the peer URL does not resolve",
			"fix the peer URL (--initial-advertise-peer-urls) or its DNS record")
	}
	return fail(CodeUnreachable, summary, "the connection failed before any byte was exchanged",
		"check the URL and the network path to the peer")
}

func tlsVerdict(cfg Config, t *TLSResult) (Verdict, bool) {
	switch {
	case t == nil:
		return Verdict{}, false
	case t.HandshakeError != "":
		return handshakeVerdict(t)
	case !t.Verified && !cfg.InsecureSkipVerify:
		return certVerdict(t)
	}
	return Verdict{}, false
}

func handshakeVerdict(t *TLSResult) (Verdict, bool) {
	e := t.HandshakeError
	summary := "TLS handshake failed: " + e
	switch {
	case strings.Contains(e, "first record does not look like a TLS handshake"):
		return fail(CodeTLSFailed, summary, "the peer serves plain HTTP on this port",
			"use an http:// URL, or configure --peer-cert-file/--peer-key-file on the member")
	case strings.Contains(e, "timeout"):
		return unresponsive(summary)
	case t.ClientCertRequested && !t.ClientCertSent:
		return clientCertMissing(summary)
	case t.ClientCertSent && isCertRejection(e):
		return clientCertRejected(summary)
	}
	return fail(CodeTLSFailed, summary, "the peer and this client share no TLS version or cipher suite, or the peer's TLS setup is broken",
		"compare --cipher-suites and TLS versions of the members; read the member's log for \"rejected connection\"")
}

func clientCertMissing(summary string) (Verdict, bool) {
	return fail(CodeClientCertRequired, summary,
		"the peer demands a client certificate (--peer-client-cert-auth or --peer-trusted-ca-file) and none was given",
		"rerun with --cert and --key: a certificate signed by the members' peer CA")
}

func clientCertRejected(summary string) (Verdict, bool) {
	return fail(CodeTLSFailed, summary,
		"the peer rejected the client certificate: not signed by its --peer-trusted-ca-file, expired, revoked (--peer-crl-file) or not allowed (--peer-cert-allowed-cn)",
		"use a client certificate from the members' peer CA; read the member's log for \"rejected connection\"")
}

func isCertRejection(e string) bool {
	for _, s := range []string{"bad certificate", "unknown certificate authority", "certificate required", "certificate revoked", "expired certificate", "unknown certificate"} {
		if strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func certVerdict(t *TLSResult) (Verdict, bool) {
	summary := "peer certificate fails verification: " + t.VerifyError
	switch {
	case strings.HasPrefix(t.VerifyError, "certificate expired"):
		return fail(CodeCertExpired, summary,
			"the peer's certificate has expired, so every member rejects its connections and it drops out of the cluster",
			"issue a new peer certificate for this member (same SANs), install it and restart the member")
	case strings.Contains(t.VerifyError, "system's trusted CAs"):
		return fail(CodeCertUntrusted, summary, "the peers use a private CA and the doctor was not given it",
			"rerun with --cacert set to the members' --peer-trusted-ca-file")
	case strings.Contains(t.VerifyError, "CA bundle does not contain"):
		return fail(CodeCertUntrusted, summary,
			"the certificate is signed by a CA the others do not trust: a certificate from another PKI, or --cacert is not the members' peer CA",
			"reissue the certificate from the peer CA, or rerun with --cacert set to the members' --peer-trusted-ca-file")
	case strings.Contains(t.VerifyError, "not valid for"):
		return fail(CodeCertUntrusted, summary,
			"the certificate does not name the host in the peer URL, so members that dial that name reject it",
			"reissue it with the peer URL's host in its SANs, or pass --server-name if you reach the peer through another name")
	}
	return fail(CodeCertUntrusted, summary, "the certificate cannot be verified", "check the certificate chain and the CA bundle")
}

func httpVerdict(p *peer) (Verdict, bool) {
	if p.httpErr == "" {
		return Verdict{}, false
	}
	summary := "request failed: " + p.httpErr
	t := p.rep.TLS
	switch {
	case t != nil && t.ClientCertRequested && !t.ClientCertSent:
		return clientCertMissing(summary)
	case t != nil && t.ClientCertSent && isCertRejection(p.httpErr):
		return clientCertRejected(summary)
	case strings.Contains(p.httpErr, "malformed HTTP response"):
		return fail(CodeTLSFailed, summary, "the peer serves TLS on this port", "use an https:// URL")
	}
	return unresponsive(summary)
}

func unresponsive(summary string) (Verdict, bool) {
	return fail(CodeUnresponsive, summary,
		"the peer accepts connections but does not answer: overloaded, stopped, or a proxy or firewall in between swallows the requests",
		"check the member's CPU, disk and log on that host, and any proxy or load balancer on the path")
}

func identityVerdict(r *PeerReport, clusterID, versionIssue string) (Verdict, bool) {
	if r.ClusterID != "" && clusterID != "" && r.ClusterID != clusterID {
		return fail(CodeClusterMismatch, fmt.Sprintf("answers for cluster %s, the other peers for %s", r.ClusterID, clusterID),
			"this URL belongs to another cluster, or the member was bootstrapped again with another --initial-cluster-token or a fresh data directory; the others answer its messages with 412 \"cluster ID mismatch\"",
			"remove the URL from the list if it is another cluster; otherwise remove the member and add it back (etcdctl member remove/add) with an empty data directory and --initial-cluster-state=existing")
	}
	if versionIssue != "" {
		return fail(CodeVersion, versionIssue,
			"etcd refuses to run a member older than its cluster version, and members older than 3.0 cannot talk to v3 members",
			"upgrade this member to the release of the others (one minor version at a time)")
	}
	return Verdict{}, false
}

func streamVerdict(checks []StreamCheck) (Verdict, bool) {
	for _, c := range checks {
		if c.ReachedMemberCheck {
			continue
		}
		summary := fmt.Sprintf("stream handshake (%s) rejected: %d %s%s", c.Type, c.Status, c.Body, c.Error)
		switch {
		case c.Status == 412 && strings.Contains(c.Body, "incompatible version"):
			return fail(CodeVersion, summary, "the peer's version check refuses the versions announced", "compare the members' versions")
		case c.Status == 412:
			return fail(CodeStreamRejected, summary, "the peer refused the handshake before its member check", "read the member's log at this time")
		case c.Status == 410:
			return fail(CodeStreamRejected, summary, "the peer says the probe's sender ID was removed from the cluster",
				"rerun with another --from-id")
		case c.Status == 200:
			return fail(CodeStreamRejected, summary+" (accepted)",
				"the probe's sender ID is a member of this cluster", "rerun with another --from-id")
		case c.Status == 404 || c.Status == 405:
			return fail(CodeNotAPeer, summary, "the port does not serve rafthttp's stream endpoints: not a peer port, or a proxy rewrites paths",
				"point the doctor at the member's peer URL (usually port 2380)")
		}
		return fail(CodeStreamRejected, summary, "the peer answered the handshake in an unexpected way", "read the member's log at this time")
	}
	return Verdict{}, false
}
