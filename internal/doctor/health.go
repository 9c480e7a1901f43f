package doctor

import (
	"fmt"
	"math"
	"time"
)

// healthVerdict judges the probing results and how long the certificate
// has left: problems a member survives for now.
func healthVerdict(cfg Config, r *PeerReport) (Verdict, bool) {
	pr := r.Probe
	if pr == nil || pr.Count == pr.Failed {
		return fail(CodeNotAPeer, "/raft/probing does not answer: "+probeError(pr),
			"the port is not an etcd or rafthttp peer port, or a proxy in between blocks /raft paths",
			"point the doctor at the member's peer URL (usually port 2380)")
	}
	if math.Abs(pr.DriftMS) > float64(MaxClockDrift/time.Millisecond) {
		return fail(CodeClockDrift, fmt.Sprintf("clock differs from this machine's by %s (etcd warns above %v)", fmtMS(pr.DriftMS), MaxClockDrift),
			"the peer's clock (or this machine's) is not synchronised; members log \"prober found high clock drift\", and leases and auth tokens misbehave",
			"run NTP/chrony on every member host and check `timedatectl` or `chronyc tracking` there")
	}
	if pr.Failed > 0 {
		return warn(CodeUnresponsive, fmt.Sprintf("%d of %d probes failed: %s", pr.Failed, pr.Count, pr.Error),
			"packet loss or an overloaded peer", "check the network path and the member's load")
	}
	if t := r.TLS; t != nil && time.Duration(t.DaysLeft)*24*time.Hour < cfg.ExpiryWarning {
		return warn(CodeCertExpiring, fmt.Sprintf("peer certificate expires in %d days (%s)", t.DaysLeft, t.NotAfter.Format(time.DateOnly)),
			"once it expires every member rejects this peer's connections",
			"issue a new peer certificate for this member now and restart or reload the member")
	}
	if pr.P99MS > float64(cfg.MaxRTT/time.Millisecond) {
		return warn(CodeSlow, fmt.Sprintf("round trips are slow: p50 %s, p99 %s (above %v)", fmtMS(pr.P50MS), fmtMS(pr.P99MS), cfg.MaxRTT),
			"network latency to this peer is at or above etcd's default heartbeat interval (100ms): expect missed heartbeats and elections",
			"fix the network path, or raise --heartbeat-interval to about the RTT and --election-timeout to 10 times that on every member")
	}
	return Verdict{}, false
}

func probeError(pr *ProbeResult) string {
	if pr == nil {
		return "not probed"
	}
	return pr.Error
}

func okVerdict(r *PeerReport) Verdict {
	summary := "healthy"
	if pr := r.Probe; pr != nil {
		summary += fmt.Sprintf(": rtt p50 %s, clock drift %s", fmtMS(pr.P50MS), fmtMS(pr.DriftMS))
	}
	return Verdict{Status: StatusOK, Code: CodeOK, Summary: summary}
}

// fmtMS prints milliseconds with precision that suits their size.
func fmtMS(v float64) string {
	if math.Abs(v) < 0.005 {
		v = 0 // no "-0.00ms"
	}
	switch a := math.Abs(v); {
	case a >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case a >= 10:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}
