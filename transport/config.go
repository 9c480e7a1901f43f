package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"

	"go.uber.org/zap"
)

// ServerConfig returns a tls.Config for serving with CertFile and KeyFile,
// which are read once now (so that a bad setup fails here) and again on
// every handshake through GetCertificate.
//
// With ClientCertAuth or TrustedCAFile set, the server requires a client
// certificate and verifies it in VerifyConnection against TrustedCAFile
// (reread per handshake; empty means the system roots). Because crypto/tls
// itself does not verify it, ConnectionState.VerifiedChains stays empty;
// use PeerCertificates instead. Callers must keep ClientAuth,
// GetCertificate and VerifyConnection as returned. Allowed CNs or hostnames
// are enforced on the client certificate and need client authentication;
// so does CRLFile, which is checked in VerifyConnection too. The client
// SAN check and HandshakeFailure belong to WrapListener, not to the config.
func (info TLSInfo) ServerConfig() (*tls.Config, error) {
	if err := info.validate(); err != nil {
		return nil, err
	}
	if info.Empty() {
		return nil, errNoKeyPair
	}
	if _, err := loadKeyPair(info.CertFile, info.KeyFile); err != nil {
		return nil, err
	}
	clientAuth := info.ClientCertAuth || info.TrustedCAFile != ""
	allowed := info.allowedMatcher()
	if allowed != nil && !clientAuth {
		return nil, errAllowedNoAuth
	}
	if _, err := loadRoots(info.TrustedCAFile); err != nil {
		return nil, err
	}
	crl, metrics, err := info.revocation()
	if err != nil {
		return nil, err
	}
	cfg := info.baseConfig()
	cfg.GetCertificate = info.serverCertLoader()
	cfg.NextProtos = []string{"h2"}
	if clientAuth {
		cfg.ClientAuth = tls.RequireAnyClientCert
		v := &peerVerifier{lg: info.logger(), caFile: info.TrustedCAFile, caFailures: info.caFailureLog(), chainCheck: true,
			usage: x509.ExtKeyUsageClientAuth, allowed: allowed, crl: crl, metrics: metrics}
		cfg.VerifyConnection = v.verifyConnection
	}
	return cfg, nil
}

// revocation builds the CRL checker, having read and parsed the file once
// so that a bad setup fails now, and the metrics it counts in. The checker
// is nil without CRLFile.
func (info TLSInfo) revocation() (*crlChecker, *tlsMetrics, error) {
	metrics, err := newTLSMetrics(info.Registerer)
	if err != nil || info.CRLFile == "" {
		return nil, metrics, err
	}
	crl := newCRLChecker(info.CRLFile, info.logger())
	if _, err := crl.load(); err != nil {
		return nil, nil, err
	}
	return crl, metrics, nil
}

// ClientConfig returns a tls.Config for dialling peers. If a key pair is set
// (ClientCertFile/ClientKeyFile, else CertFile/KeyFile) it is read once now
// and again whenever a server asks for a client certificate.
//
// Without TrustedCAFile, crypto/tls verifies the server against the system
// roots as usual. With TrustedCAFile (and without InsecureSkipVerify), the
// returned config has InsecureSkipVerify set and verifies the server in
// VerifyConnection against a fresh read of the bundle; the host name
// checked is the dialled DNS name, else ServerName. A server certificate
// listed in CRLFile fails the handshake whatever the other settings,
// InsecureSkipVerify included. Dialling an IP address
// therefore needs ServerName, or the handshake fails with ErrNoServerName.
// Callers must keep InsecureSkipVerify, GetClientCertificate and
// VerifyConnection as returned. NewTLSDialer has none of these limits: it
// checks the server against the host it dials, IP addresses included.
func (info TLSInfo) ClientConfig() (*tls.Config, error) {
	cfg, _, err := info.clientConfig()
	return cfg, err
}

// clientConfig builds ClientConfig's result and returns the verifier its
// VerifyConnection uses, or nil when it has none.
func (info TLSInfo) clientConfig() (*tls.Config, *peerVerifier, error) {
	if err := info.validate(); err != nil {
		return nil, nil, err
	}
	cfg := info.baseConfig()
	cfg.InsecureSkipVerify = info.InsecureSkipVerify
	if certFile, keyFile := info.clientKeyPairFiles(); certFile != "" {
		if _, err := info.loadClientCert(certFile, keyFile); err != nil {
			return nil, nil, err
		}
		cfg.GetClientCertificate = info.clientCertLoader(certFile, keyFile)
	}
	if _, err := loadRoots(info.TrustedCAFile); err != nil {
		return nil, nil, err
	}
	crl, metrics, err := info.revocation()
	if err != nil {
		return nil, nil, err
	}
	v := &peerVerifier{lg: info.logger(), caFile: info.TrustedCAFile, caFailures: info.caFailureLog(), usage: x509.ExtKeyUsageServerAuth,
		serverName: info.ServerName, allowed: info.allowedMatcher(), crl: crl, metrics: metrics}
	if info.TrustedCAFile != "" && !info.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true
		v.chainCheck = true
	}
	if !v.chainCheck && v.allowed == nil && v.crl == nil {
		return cfg, nil, nil
	}
	cfg.VerifyConnection = v.verifyConnection
	return cfg, v, nil
}

// baseConfig holds the settings shared by servers and clients.
func (info TLSInfo) baseConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion: info.MinVersion,
		MaxVersion: info.MaxVersion,
		ServerName: info.ServerName,
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if len(info.CipherSuites) > 0 {
		cfg.CipherSuites = slices.Clone(info.CipherSuites)
	}
	return cfg
}

// serverCertLoader returns a GetCertificate hook that rereads the key pair.
func (info TLSInfo) serverCertLoader() func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	lg := info.logger()
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := loadKeyPair(info.CertFile, info.KeyFile)
		if err != nil {
			lg.Warn("failed to load server certificate", zap.String("cert-file", info.CertFile), zap.Error(err))
		}
		return cert, err
	}
}

// clientKeyPairFiles names the key pair a client presents, or two empty
// strings when it has none.
func (info TLSInfo) clientKeyPairFiles() (certFile, keyFile string) {
	if info.ClientCertFile != "" {
		return info.ClientCertFile, info.ClientKeyFile
	}
	return info.CertFile, info.KeyFile
}

// loadClientCert reads the client key pair and applies EmptyCN.
func (info TLSInfo) loadClientCert(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if info.EmptyCN && cert.Leaf.Subject.CommonName != "" {
		return nil, fmt.Errorf("%w: %q in %s", ErrNonEmptyCN, cert.Leaf.Subject.CommonName, certFile)
	}
	return cert, nil
}

// clientCertLoader returns a GetClientCertificate hook that rereads the
// client key pair.
func (info TLSInfo) clientCertLoader(certFile, keyFile string) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	lg := info.logger()
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cert, err := info.loadClientCert(certFile, keyFile)
		if err != nil {
			lg.Warn("failed to load client certificate", zap.String("cert-file", certFile), zap.Error(err))
		}
		return cert, err
	}
}
