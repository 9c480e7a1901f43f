package etcdtest

import (
	"os"
	"strings"
	"testing"
)

// Member is one etcd process of a Cluster. Its fields are fixed once Start
// returns.
type Member struct {
	Name      string  // --name: "m0", "m1", ...
	ID        string  // member ID in hex, as etcd prints it in logs and headers
	PeerURL   string  // http:// or https://127.0.0.1:<port>
	ClientURL string  // http:// or https://127.0.0.1:<port>
	DataDir   string  // --data-dir, under t.TempDir()
	LogFile   string  // the process's stdout and stderr, appended across restarts
	PeerTLS   PeerTLS // the files it serves its peer port with; zero for plain HTTP

	bin        string
	args       []string
	clientCert string // served on the client port; empty for plain HTTP
	clientKey  string
	proc       *process // nil while stopped
}

// start launches the member's process with its fixed command line.
func (m *Member) start(t testing.TB) {
	t.Helper()
	p, err := startProcess(m.bin, m.args, m.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	m.proc = p
}

// stop ends the member's process, if it runs, and waits for it.
func (m *Member) stop() {
	if m.proc != nil {
		m.proc.stop()
		m.proc = nil
	}
}

// Running reports whether the member's process is alive.
func (m *Member) Running() bool {
	if m.proc == nil {
		return false
	}
	exited, _ := m.proc.exited()
	return !exited
}

// Log returns everything the member has logged so far.
func (m *Member) Log(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(m.LogFile)
	if err != nil {
		t.Fatalf("etcdtest: reading %s's log: %v", m.Name, err)
	}
	return string(data)
}

// LogLines returns the member's log lines that contain substr.
func (m *Member) LogLines(t testing.TB, substr string) []string {
	t.Helper()
	var lines []string
	for line := range strings.Lines(m.Log(t)) {
		if strings.Contains(line, substr) {
			lines = append(lines, strings.TrimRight(line, "\n"))
		}
	}
	return lines
}

// logTail returns the last n lines of the member's log, for failure reports.
func (m *Member) logTail(n int) string {
	data, err := os.ReadFile(m.LogFile)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
