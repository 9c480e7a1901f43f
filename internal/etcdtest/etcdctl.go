package etcdtest

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Etcdctl runs etcdctl (API v3) against the running members' client URLs,
// with the PKI's client certificate on a TLS cluster, and returns its
// standard output. A failure fails the test.
func (c *Cluster) Etcdctl(t testing.TB, args ...string) []byte {
	t.Helper()
	var endpoints string
	for _, m := range c.Members {
		if m.Running() {
			endpoints += "," + m.ClientURL
		}
	}
	if endpoints == "" {
		t.Fatal("etcdtest: Etcdctl with no member running")
	}
	full := []string{"--endpoints", endpoints[1:], "--dial-timeout", "5s", "--command-timeout", "10s"}
	if c.PKI != nil {
		full = append(full, "--cacert", c.PKI.CAFile, "--cert", c.PKI.ClientCertFile, "--key", c.PKI.ClientKeyFile)
	}
	cmd := exec.Command(c.bins.Etcdctl, append(full, args...)...)
	cmd.Env = append(cleanEnv(), "ETCDCTL_API=3")
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("etcdtest: etcdctl %v after %v: %v\n%s", args, time.Since(start).Round(time.Millisecond), err, stderr)
	}
	return out
}

// Status is one running member's `etcdctl endpoint status`.
type Status struct {
	Endpoint  string // its client URL
	MemberID  string // hex
	ClusterID string // hex
	Leader    string // hex member ID of the leader it knows
	RaftTerm  uint64
	RaftIndex uint64
}

// Status returns the endpoint status of every running member.
func (c *Cluster) Status(t testing.TB) []Status {
	t.Helper()
	var raw []struct {
		Endpoint string
		Status   struct {
			Header struct {
				ClusterID uint64 `json:"cluster_id"`
				MemberID  uint64 `json:"member_id"`
			}
			Leader    uint64
			RaftTerm  uint64
			RaftIndex uint64
		}
	}
	if err := json.Unmarshal(c.Etcdctl(t, "endpoint", "status", "-w", "json"), &raw); err != nil {
		t.Fatalf("etcdtest: decoding endpoint status: %v", err)
	}
	out := make([]Status, len(raw))
	for i, r := range raw {
		out[i] = Status{Endpoint: r.Endpoint, MemberID: hexID(r.Status.Header.MemberID),
			ClusterID: hexID(r.Status.Header.ClusterID), Leader: hexID(r.Status.Leader),
			RaftTerm: r.Status.RaftTerm, RaftIndex: r.Status.RaftIndex}
	}
	return out
}

// readIDs learns the member IDs and the cluster ID from `member list`.
func (c *Cluster) readIDs(t testing.TB) {
	t.Helper()
	var list struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
		}
		Members []struct {
			ID   uint64
			Name string
		}
	}
	if err := json.Unmarshal(c.Etcdctl(t, "member", "list", "-w", "json"), &list); err != nil {
		t.Fatalf("etcdtest: decoding member list: %v", err)
	}
	c.ClusterID = hexID(list.Header.ClusterID)
	for _, m := range c.Members {
		for _, lm := range list.Members {
			if lm.Name == m.Name {
				m.ID = hexID(lm.ID)
			}
		}
		if m.ID == "" {
			t.Fatalf("etcdtest: %s missing from member list", m.Name)
		}
	}
}

func hexID(id uint64) string { return strconv.FormatUint(id, 16) }
