package etcdtest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// waitHealthy is awaitHealthy failing the test on error.
func (c *Cluster) waitHealthy(t testing.TB, ms []*Member) {
	t.Helper()
	if err := c.awaitHealthy(t, ms); err != nil {
		t.Fatal(err)
	}
}

// startError is a member that exited, or was not healthy in time, during
// a start; its message carries the member's log tail.
type startError struct {
	member string
	exited bool
	tail   string
}

func (e *startError) Error() string {
	if e.exited {
		return fmt.Sprintf("etcdtest: %s exited during start; log tail:\n%s", e.member, e.tail)
	}
	return fmt.Sprintf("etcdtest: %s not healthy in time; log tail:\n%s", e.member, e.tail)
}

// lostPortRace reports whether err is a member that exited because
// another process took one of its ports between freePorts and its bind.
func lostPortRace(err error) bool {
	var se *startError
	return errors.As(err, &se) && se.exited && strings.Contains(se.tail, "address already in use")
}

// awaitHealthy polls /health on the client port of each member in ms
// until all report healthy (which needs a leader), one exits, or the start
// timeout passes. An etcd process offers nothing to wait on but its port.
func (c *Cluster) awaitHealthy(t testing.TB, ms []*Member) error {
	t.Helper()
	client := c.httpClient(t)
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(c.timeout)
	for _, m := range ms {
		for {
			if exited, _ := m.proc.exited(); exited {
				return &startError{member: m.Name, exited: true, tail: m.logTail(20)}
			}
			if healthy(client, m.ClientURL) {
				break
			}
			if time.Now().After(deadline) {
				return &startError{member: m.Name, tail: m.logTail(20)}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// healthy reports whether the member behind clientURL answers /health
// with {"health":"true"}.
func healthy(client *http.Client, clientURL string) bool {
	resp, err := client.Get(clientURL + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct{ Health string }
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return err == nil && resp.StatusCode == http.StatusOK &&
		json.Unmarshal(body, &h) == nil && h.Health == "true"
}

// httpClient talks to the client ports: plain, or with the PKI's client
// certificate.
func (c *Cluster) httpClient(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	if c.PKI != nil {
		tr.TLSClientConfig = c.PKI.clientConfig(t)
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Second}
}

// clientConfig is a TLS client config trusting the CA and presenting the
// client certificate.
func (p *PKI) clientConfig(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.ClientCertFile, p.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal(fmt.Errorf("etcdtest: no certificate in %s", p.CAFile))
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots}
}
