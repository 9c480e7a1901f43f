package transport

import (
	"io"
	"net"
	"net/http"
	"testing"
)

// TestHTTPSLoopback serves HTTPS with ServerConfig and calls it through an
// http.Transport using ClientConfig, as rafthttp does.
func TestHTTPSLoopback(t *testing.T) {
	e := newEnv(t)
	e.build(t)
	e.server.AllowedCNs = []string{"client"}
	serverCfg, clientCfg := e.configs(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig: serverCfg,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	defer func() {
		_ = srv.Close()
		<-served
	}()

	tr := &http.Transport{TLSClientConfig: clientCfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(body) != "client" {
		t.Errorf("body %q, %v; want the client CN", body, err)
	}
}
