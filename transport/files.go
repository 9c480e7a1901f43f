package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// loadKeyPair reads a PEM certificate and key, with Leaf parsed.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("transport: loading key pair %s, %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("transport: parsing %s: %w", certFile, err)
		}
		cert.Leaf = leaf
	}
	return &cert, nil
}

// loadRoots reads a PEM CA bundle. An empty path yields nil, which
// x509.Certificate.Verify takes to mean the system roots.
func loadRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("transport: reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%w: %s", errNoCACerts, caFile)
	}
	return pool, nil
}
