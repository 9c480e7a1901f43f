package doctor

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// tlsSetup holds the TLS material from the flags, loaded once.
type tlsSetup struct {
	roots      *x509.CertPool // nil means the system roots
	cert       *tls.Certificate
	insecure   bool
	serverName string
}

// loadTLS reads the CA bundle and the client key pair named in cfg.
func loadTLS(cfg Config) (*tlsSetup, error) {
	s := &tlsSetup{insecure: cfg.InsecureSkipVerify, serverName: cfg.ServerName}
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		s.roots = x509.NewCertPool()
		if !s.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", cfg.CACert)
		}
	}
	if (cfg.Cert == "") != (cfg.Key == "") {
		return nil, fmt.Errorf("--cert and --key go together")
	}
	if cfg.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		s.cert = &cert
	}
	return s, nil
}

// clientAsk records whether a server asked for our client certificate.
type clientAsk struct {
	requested atomic.Bool
	sent      atomic.Bool
}

// config returns a client config for one peer. Verification is left to
// verifyPeer, which can say why it fails instead of aborting the
// handshake; sni is sent when the peer is dialled by name.
func (s *tlsSetup) config(sni string, ask *clientAsk) *tls.Config {
	return &tls.Config{
		ServerName:         sni,
		InsecureSkipVerify: true, // verified by verifyPeer, which explains failures
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			ask.requested.Store(true)
			if s.cert == nil {
				return &tls.Certificate{}, nil
			}
			ask.sent.Store(true)
			return s.cert, nil
		},
	}
}
