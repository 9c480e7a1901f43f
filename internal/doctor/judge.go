package doctor

import (
	"fmt"
	"time"

	"github.com/rafthttp/rafthttp"
)

// judge gives every peer its verdict, using what the peers say about each
// other (cluster ID, versions), and fills the report's summary fields.
func judge(cfg Config, rep *Report, peers []*peer) {
	rep.ClusterID = majorityClusterID(peers)
	rep.Status = StatusOK
	for _, p := range peers {
		p.rep.Verdict = verdictFor(cfg, p, rep.ClusterID, versionProblem(p, peers))
		rep.Status = worse(rep.Status, p.rep.Verdict.Status)
	}
	rep.Notes = clusterNotes(peers)
}

// majorityClusterID is the cluster ID most peers answer with; a tie goes
// to the one listed first.
func majorityClusterID(peers []*peer) string {
	count := map[string]int{}
	best := ""
	for _, p := range peers {
		id := p.rep.ClusterID
		if id == "" {
			continue
		}
		count[id]++
		if count[id] > count[best] {
			best = id
		}
	}
	return best
}

// versionProblem says why p's server could not run alongside the other
// peers by etcd's rules, or "". A member's server version must be at
// least etcd's minimum cluster version (3.0, rafthttp's stream check) and
// at least every member's cluster version (etcd refuses to start a member
// older than its cluster). The root package's CheckPeerVersions applies
// both: p against a peer announcing p's server and the other's cluster
// version as its minimum.
func versionProblem(p *peer, peers []*peer) string {
	server := p.rep.Version.Server
	if server == "" {
		return ""
	}
	if err := rafthttp.CheckPeerVersions(server, rafthttp.DefaultMinClusterVersion, server, rafthttp.DefaultMinClusterVersion); err != nil {
		return fmt.Sprintf("server version %s: %v", server, err)
	}
	for _, o := range peers {
		cluster := o.rep.Version.Cluster
		if cluster == "" {
			continue
		}
		if err := rafthttp.CheckPeerVersions(server, rafthttp.DefaultMinClusterVersion, server, cluster); err != nil {
			return fmt.Sprintf("server version %s is older than the cluster version %s that %s announces", server, cluster, o.rep.URL)
		}
	}
	return ""
}

// clusterNotes are findings about the peers together.
func clusterNotes(peers []*peer) []string {
	var notes []string
	clusters := map[string]bool{}
	var drifts []float64
	for _, p := range peers {
		if c := p.rep.Version.Cluster; c != "" {
			clusters[c] = true
		}
		if pr := p.rep.Probe; pr != nil && pr.Count > pr.Failed {
			drifts = append(drifts, pr.DriftMS)
		}
	}
	if len(clusters) > 1 {
		notes = append(notes, "peers announce different cluster versions; they converge once every member runs the same release")
	}
	if sameDrift(drifts) {
		notes = append(notes, fmt.Sprintf("every peer's clock differs from this machine's by more than %v in the same direction: this machine's clock is probably the one that is off", MaxClockDrift))
	}
	return notes
}

// sameDrift reports whether there are several drifts, all beyond the
// threshold on the same side.
func sameDrift(drifts []float64) bool {
	if len(drifts) < 2 {
		return false
	}
	limit := float64(MaxClockDrift / time.Millisecond)
	pos, neg := 0, 0
	for _, d := range drifts {
		switch {
		case d > limit:
			pos++
		case d < -limit:
			neg++
		}
	}
	return pos == len(drifts) || neg == len(drifts)
}
