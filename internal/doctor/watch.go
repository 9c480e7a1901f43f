package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// WatchSample is one peer's probing figures in one watch round.
type WatchSample struct {
	Time   time.Time    `json:"time"`
	URL    string       `json:"url"`
	Probe  *ProbeResult `json:"probe,omitempty"`
	Status Status       `json:"status"`
	Note   string       `json:"note,omitempty"` // why Status is not ok
}

// WatchOptions control Watch.
type WatchOptions struct {
	Interval time.Duration // between rounds; 0 means 2s
	Rounds   int           // 0 means until ctx is done
	JSON     bool          // one JSON object per sample instead of text lines
}

// Watch re-probes every peer's /raft/probing each interval and prints RTT
// and clock drift as they move. It connects once, keeps the connections,
// and sends nothing but probes. It returns the worst status seen.
func Watch(ctx context.Context, cfg Config, opts WatchOptions, w io.Writer) (Status, error) {
	d, peers, err := prepare(cfg)
	if err != nil {
		return StatusFail, err
	}
	defer closePeers(peers)
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	worst := StatusOK
	ticker := time.NewTicker(opts.Interval)
	defer ticker.Stop()
	for round := 0; opts.Rounds == 0 || round < opts.Rounds; round++ {
		if round > 0 {
			select {
			case <-ctx.Done():
				return worst, nil
			case <-ticker.C:
			}
		}
		for _, p := range peers {
			s := d.watchOnce(ctx, p)
			if ctx.Err() != nil {
				return worst, nil // a probe cut short by the stop is no finding
			}
			worst = worse(worst, s.Status)
			if err := writeSample(w, s, opts.JSON); err != nil {
				return worst, err
			}
		}
	}
	return worst, nil
}

// watchOnce probes one peer, (re)connecting first if it has no client yet.
func (d *doctor) watchOnce(ctx context.Context, p *peer) WatchSample {
	s := WatchSample{Time: d.cfg.Now().UTC(), URL: p.url.String(), Status: StatusOK}
	if p.pc == nil {
		d.inspect(ctx, p)
	}
	if p.pc == nil || p.httpErr != "" {
		s.Status, s.Note = StatusFail, "unreachable: "+unreachableReason(p)
		p.httpErr = ""
		return s
	}
	s.Probe = probe(ctx, p.pc, d.cfg.Probes, d.cfg.Now)
	switch pr := s.Probe; {
	case pr.Count == pr.Failed:
		s.Status, s.Note = StatusFail, "probes fail: "+pr.Error
	case math.Abs(pr.DriftMS) > float64(MaxClockDrift/time.Millisecond):
		s.Status, s.Note = StatusFail, "clock drift above "+MaxClockDrift.String()
	case pr.P99MS > float64(d.cfg.MaxRTT/time.Millisecond):
		s.Status, s.Note = StatusWarn, "rtt above "+d.cfg.MaxRTT.String()
	}
	return s
}

// unreachableReason says why inspect left p without a working client: the
// connect, the TLS handshake or the first request failed.
func unreachableReason(p *peer) string {
	switch {
	case p.rep.TCP.Error != "":
		return p.rep.TCP.Error
	case p.rep.TLS != nil && p.rep.TLS.HandshakeError != "":
		return "TLS handshake: " + p.rep.TLS.HandshakeError
	default:
		return p.httpErr
	}
}

func writeSample(w io.Writer, s WatchSample, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(s)
	}
	line := fmt.Sprintf("%s  %-28s ", s.Time.Format("15:04:05.000"), s.URL)
	if pr := s.Probe; pr != nil && pr.Count > pr.Failed {
		line += fmt.Sprintf("rtt min %-7s p50 %-7s p99 %-7s max %-7s drift %-8s ",
			fmtMS(pr.MinMS), fmtMS(pr.P50MS), fmtMS(pr.P99MS), fmtMS(pr.MaxMS), fmtMS(pr.DriftMS))
	}
	line += string(s.Status)
	if s.Note != "" {
		line += " (" + s.Note + ")"
	}
	_, err := fmt.Fprintln(w, line)
	return err
}
