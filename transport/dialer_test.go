package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// serveHTTPS serves the server side of e on loopback until the test ends
// and returns its address (127.0.0.1:port).
func serveHTTPS(t *testing.T, e *env) string {
	t.Helper()
	cfg, err := e.server.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: cfg, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})
	return ln.Addr().String()
}

// getVia fetches url through rt and returns the body.
func getVia(t *testing.T, rt *http.Transport, url string) (string, error) {
	t.Helper()
	defer rt.CloseIdleConnections()
	resp, err := (&http.Client{Transport: rt}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// TestTLSDialerIPAddress dials https://127.0.0.1:port with no ServerName:
// ClientConfig alone cannot check the IP, NewTLSDialer can.
func TestTLSDialerIPAddress(t *testing.T) {
	tests := []struct {
		name       string
		serverIPs  []net.IP
		serverName string
		wantAs     any
	}{
		{name: "IP SAN matches dialled IP", serverIPs: []net.IP{net.IPv4(127, 0, 0, 1)}},
		{name: "no IP SAN", wantAs: new(x509.HostnameError)},
		{name: "ServerName overrides the dialled host", serverName: "localhost"},
		{name: "ServerName mismatch", serverIPs: []net.IP{net.IPv4(127, 0, 0, 1)},
			serverName: "elsewhere.example", wantAs: new(x509.HostnameError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.serverSpec.IPs = tt.serverIPs
			e.build(t)
			e.client.ServerName = tt.serverName
			addr := serveHTTPS(t, e)
			dial, err := e.client.NewTLSDialer(nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := getVia(t, &http.Transport{DialTLSContext: dial}, "https://"+addr+"/")
			if tt.wantAs != nil {
				if !errors.As(err, tt.wantAs) {
					t.Fatalf("got %q, %v; want a %T", body, err, tt.wantAs)
				}
				return
			}
			if err != nil || body != "client" {
				t.Fatalf("got %q, %v; want the client CN", body, err)
			}
		})
	}
}

// TestClientConfigAloneNeedsServerName pins the limit NewTLSDialer lifts.
func TestClientConfigAloneNeedsServerName(t *testing.T) {
	e := newEnv(t)
	e.build(t)
	e.client.ServerName = ""
	addr := serveHTTPS(t, e)
	cfg, err := e.client.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	_, err = getVia(t, &http.Transport{TLSClientConfig: cfg}, "https://"+addr+"/")
	if !errors.Is(err, ErrNoServerName) {
		t.Fatalf("err = %v, want ErrNoServerName", err)
	}
}

// TestTLSDialerErrors covers a bad address, a failing dial and a server
// that never answers the handshake.
func TestTLSDialerErrors(t *testing.T) {
	e := newEnv(t)
	e.build(t)
	dial, err := e.client.NewTLSDialer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dial(context.Background(), "tcp", "no-port"); err == nil {
		t.Error("dial without a port succeeded")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := dial(context.Background(), "tcp", addr); err == nil {
		t.Error("dial to a closed port succeeded")
	}
	silent, client := tcpPair(t)
	defer silent.Close()
	stub := func(context.Context, string, string) (net.Conn, error) { return client, nil }
	dial, err = e.client.NewTLSDialer(stub)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := dial(ctx, "tcp", "localhost:1"); err == nil {
		t.Error("handshake with a silent server succeeded")
	}
	bad := e.client
	bad.CRLFile = "no-such-crl.pem"
	if _, err := bad.NewTLSDialer(nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewTLSDialer with CRLFile: %v", err)
	}
}
