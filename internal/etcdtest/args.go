package etcdtest

// Raft timing of the members, in milliseconds. etcd's defaults (100 ms
// heartbeats, a 1 s election timeout) let a test machine too loaded to
// schedule a member for a second start an election, and tests that check
// nothing disturbed the cluster compare raft terms. Config.Args, which
// come later on the command line, can set others.
const (
	heartbeatMS = "250"
	electionMS  = "5000"
)

// memberArgs is m's etcd command line. Logs go to stderr as JSON lines
// (--logger zap), so tests can match etcd's message texts.
func (c *Cluster) memberArgs(m *Member, initialCluster, token string) []string {
	args := []string{
		"--heartbeat-interval", heartbeatMS,
		"--election-timeout", electionMS,
		"--name", m.Name,
		"--data-dir", m.DataDir,
		"--listen-peer-urls", m.PeerURL,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--listen-client-urls", m.ClientURL,
		"--advertise-client-urls", m.ClientURL,
		"--initial-cluster", initialCluster,
		"--initial-cluster-token", token,
		"--initial-cluster-state", "new",
		"--logger", "zap",
		"--log-outputs", "stderr",
	}
	args = append(args, m.PeerTLS.args()...)
	if m.clientCert != "" {
		args = append(args,
			"--cert-file", m.clientCert,
			"--key-file", m.clientKey,
			"--trusted-ca-file", c.PKI.CAFile,
			"--client-cert-auth")
	}
	return args
}
