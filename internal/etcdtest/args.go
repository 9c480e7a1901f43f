package etcdtest

// memberArgs is m's etcd command line. Logs go to stderr as JSON lines
// (--logger zap), so tests can match etcd's message texts.
func (c *Cluster) memberArgs(m *Member, initialCluster, token string) []string {
	args := []string{
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
