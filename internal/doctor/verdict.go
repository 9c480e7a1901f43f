package doctor

// Status grades a peer or a whole report.
type Status string

// Statuses, from best to worst.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
)

// rank orders statuses so the worst can be picked.
func (s Status) rank() int {
	switch s {
	case StatusOK:
		return 0
	case StatusWarn:
		return 1
	default:
		return 2
	}
}

// worse returns the worse of a and b.
func worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Verdict is the one-line judgement on a peer.
type Verdict struct {
	Status Status `json:"status"`
	// Code names the finding, e.g. "UNREACHABLE" or "CLOCK_DRIFT".
	Code string `json:"code"`
	// Summary says what was found, Cause what most likely explains it and
	// Action what an operator should do; Cause and Action are empty for OK.
	Summary string `json:"summary"`
	Cause   string `json:"cause,omitempty"`
	Action  string `json:"action,omitempty"`
}

// Verdict codes.
const (
	CodeOK                 = "OK"
	CodeUnreachable        = "UNREACHABLE"
	CodeTLSFailed          = "TLS_FAILED"
	CodeCertUntrusted      = "CERT_UNTRUSTED"
	CodeCertExpired        = "CERT_EXPIRED"
	CodeCertExpiring       = "CERT_EXPIRING"
	CodeClientCertRequired = "CLIENT_CERT_REQUIRED"
	CodeNotAPeer           = "NOT_A_PEER"
	CodeClusterMismatch    = "CLUSTER_ID_MISMATCH"
	CodeVersion            = "VERSION_INCOMPATIBLE"
	CodeStreamRejected     = "STREAM_REJECTED"
	CodeClockDrift         = "CLOCK_DRIFT"
	CodeSlow               = "HIGH_RTT"
	CodeUnresponsive       = "UNRESPONSIVE"
)
