package etcdtest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

// waitHealthy polls /health on the client port of each member in ms until
// all report healthy (which needs a leader), one exits, or the start
// timeout passes; the last two fail the test with the member's log tail.
func (c *Cluster) waitHealthy(t testing.TB, ms []*Member) {
	t.Helper()
	client := c.httpClient(t)
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(c.timeout)
	for _, m := range ms {
		for {
			if exited, err := m.proc.exited(); exited {
				t.Fatalf("etcdtest: %s exited during start (%v); log tail:\n%s", m.Name, err, m.logTail(20))
			}
			if healthy(client, m.ClientURL) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("etcdtest: %s not healthy after %v; log tail:\n%s", m.Name, c.timeout, m.logTail(20))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
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
