package doctor

import "time"

// Report is the outcome of one run over all peers.
type Report struct {
	Time      time.Time     `json:"time"`
	ClusterID string        `json:"clusterID,omitempty"` // the one most peers answer with
	Peers     []*PeerReport `json:"peers"`
	// Notes are findings about the cluster as a whole.
	Notes []string `json:"notes,omitempty"`
	// Status is the worst peer status.
	Status Status `json:"status"`
}

// PeerReport is everything learned about one peer URL.
type PeerReport struct {
	URL       string        `json:"url"`
	Name      string        `json:"name,omitempty"`     // from /members
	MemberID  string        `json:"memberID,omitempty"` // hex, from /members
	TCP       TCPResult     `json:"tcp"`
	TLS       *TLSResult    `json:"tls,omitempty"`
	Version   VersionResult `json:"version"`
	ClusterID string        `json:"clusterID,omitempty"`
	Members   []Member      `json:"members,omitempty"` // the peer's /members, if served
	Probe     *ProbeResult  `json:"probe,omitempty"`
	Stream    []StreamCheck `json:"stream,omitempty"`
	Verdict   Verdict       `json:"verdict"`
}

// TCPResult is the outcome of connecting.
type TCPResult struct {
	Address   string  `json:"address"`
	ConnectMS float64 `json:"connectMs,omitempty"`
	// Failure is "refused", "timeout", "dns" or "error"; empty on success.
	Failure string `json:"failure,omitempty"`
	Error   string `json:"error,omitempty"`
}

// TLSResult describes the handshake and the certificate the peer served.
type TLSResult struct {
	Version     string    `json:"version,omitempty"`
	Cipher      string    `json:"cipher,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	SANs        []string  `json:"sans,omitempty"`
	Issuer      string    `json:"issuer,omitempty"`
	NotAfter    time.Time `json:"notAfter,omitzero"`
	DaysLeft    int       `json:"daysLeft"`
	Verified    bool      `json:"verified"`
	VerifyError string    `json:"verifyError,omitempty"`
	// ClientCertRequested is whether the peer asked for a client
	// certificate; ClientCertSent whether we had one to give.
	ClientCertRequested bool   `json:"clientCertRequested"`
	ClientCertSent      bool   `json:"clientCertSent"`
	HandshakeError      string `json:"handshakeError,omitempty"`
}

// VersionResult is what the peer announces about versions.
type VersionResult struct {
	Server  string `json:"server,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	// Source is "/version" or "X-Server-Version" (no cluster version then).
	Source string `json:"source,omitempty"`
}

// Member is one entry of a peer's /members.
type Member struct {
	ID       string   `json:"id"` // hex
	Name     string   `json:"name"`
	PeerURLs []string `json:"peerURLs"`
}

// ProbeResult summarises the /raft/probing round trips.
type ProbeResult struct {
	Count  int     `json:"count"`
	Failed int     `json:"failed"`
	MinMS  float64 `json:"minMs"`
	P50MS  float64 `json:"p50Ms"`
	P99MS  float64 `json:"p99Ms"`
	MaxMS  float64 `json:"maxMs"`
	// DriftMS is local clock minus the peer's, corrected by half the RTT,
	// from the fastest round trip (the least uncertain one).
	DriftMS float64 `json:"driftMs"`
	Error   string  `json:"error,omitempty"`
}

// StreamCheck is the answer to one stream handshake GET.
type StreamCheck struct {
	Type   string `json:"type"` // "message" or "msgapp"
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	// ReachedMemberCheck is true when the peer rejected the non-member
	// sender at its member check: every check before it passed.
	ReachedMemberCheck bool `json:"reachedMemberCheck"`
	// ServerVersion is the reply's X-Server-Version header.
	ServerVersion string `json:"serverVersion,omitempty"`
	Error         string `json:"error,omitempty"`
}
