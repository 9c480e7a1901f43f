package doctor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report for people: one row per peer, then the
// cause and what to do for every peer that is not OK, then cluster notes.
func WriteTable(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tNAME\tMEMBER\tCONNECT\tTLS\tVERSION\tCLUSTER\tRTT p50/p99\tDRIFT\tSTREAM\tVERDICT")
	for _, p := range rep.Peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.URL, dash(p.Name), dash(p.MemberID),
			connectCell(p.TCP), tlsCell(p), versionCell(p.Version), dash(p.ClusterID),
			rttCell(p.Probe), driftCell(p.Probe), streamCell(p.Stream), p.Verdict.Code)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, p := range rep.Peers {
		fmt.Fprintf(w, "%s %s: %s\n", strings.ToUpper(string(p.Verdict.Status)), p.URL, p.Verdict.Summary)
		writeTLSDetail(w, p.TLS)
		if p.Verdict.Cause != "" {
			fmt.Fprintf(w, "  likely cause: %s\n  what to do:   %s\n", p.Verdict.Cause, p.Verdict.Action)
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	_, err := fmt.Fprintf(w, "\n%s: %s\n", strings.ToUpper(string(rep.Status)), summaryLine(rep))
	return err
}

func summaryLine(rep *Report) string {
	counts := map[Status]int{}
	for _, p := range rep.Peers {
		counts[p.Verdict.Status]++
	}
	noun := "peers"
	if len(rep.Peers) == 1 {
		noun = "peer"
	}
	return fmt.Sprintf("%d %s: %d ok, %d warn, %d fail (cluster %s)", len(rep.Peers), noun,
		counts[StatusOK], counts[StatusWarn], counts[StatusFail], dash(rep.ClusterID))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func connectCell(t TCPResult) string {
	if t.Failure != "" {
		return t.Failure
	}
	return fmtMS(t.ConnectMS)
}

func tlsCell(p *PeerReport) string {
	t := p.TLS
	switch {
	case p.TCP.Failure != "":
		return "-"
	case t == nil:
		return "plain"
	case t.HandshakeError != "":
		return "handshake failed"
	case !t.Verified:
		return t.Version + " unverified"
	}
	s := t.Version + " verified"
	if t.ClientCertRequested {
		s += ", mTLS"
	}
	return s
}

func versionCell(v VersionResult) string {
	switch {
	case v.Server == "":
		return "-"
	case v.Cluster == "":
		return v.Server
	}
	return v.Server + " (cluster " + v.Cluster + ")"
}

func rttCell(pr *ProbeResult) string {
	if pr == nil || pr.Count == pr.Failed {
		return "-"
	}
	return fmtMS(pr.P50MS) + "/" + fmtMS(pr.P99MS)
}

func driftCell(pr *ProbeResult) string {
	if pr == nil || pr.Count == pr.Failed {
		return "-"
	}
	return fmtMS(pr.DriftMS)
}

func streamCell(checks []StreamCheck) string {
	if len(checks) == 0 {
		return "-"
	}
	for _, c := range checks {
		if !c.ReachedMemberCheck {
			return "rejected"
		}
	}
	return "ok"
}

// writeTLSDetail prints the session and certificate of a TLS peer.
func writeTLSDetail(w io.Writer, t *TLSResult) {
	if t == nil || t.Subject == "" {
		return
	}
	client := "not requested"
	switch {
	case t.ClientCertRequested && t.ClientCertSent:
		client = "requested and sent"
	case t.ClientCertRequested:
		client = "requested, none to send"
	}
	fmt.Fprintf(w, "  tls: %s %s, client certificate %s\n", t.Version, t.Cipher, client)
	fmt.Fprintf(w, "  certificate: %s, issued by %s, SANs %s, expires %s (%d days)\n", t.Subject, t.Issuer,
		strings.Join(t.SANs, " "), t.NotAfter.Format("2006-01-02"), t.DaysLeft)
}
