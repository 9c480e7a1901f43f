package etcdtest

import "testing"

// StopMember stops member i (SIGTERM, then SIGKILL after 10 s) and waits
// for its process to exit. Its data directory and log stay.
func (c *Cluster) StopMember(t testing.TB, i int) {
	t.Helper()
	c.Members[i].stop()
}

// RestartMember starts member i again on the same URLs and data directory
// and waits until it reports itself healthy.
func (c *Cluster) RestartMember(t testing.TB, i int) {
	t.Helper()
	m := c.Members[i]
	m.stop()
	m.start(t)
	c.waitHealthy(t, []*Member{m})
}

// cleanup stops every member; on a failed test it logs each log's tail.
func (c *Cluster) cleanup(t testing.TB) {
	for _, m := range c.Members {
		m.stop()
		if t.Failed() {
			t.Logf("etcdtest: %s (%s) log tail:\n%s", m.Name, m.ID, m.logTail(15))
		}
	}
}
