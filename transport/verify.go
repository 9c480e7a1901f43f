package transport

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// peerVerifier checks the certificate a peer presents, in a
// tls.Config.VerifyConnection callback. It is immutable once built.
type peerVerifier struct {
	lg *zap.Logger
	// caFile, when chainCheck is set, is reread to verify the peer's chain;
	// empty means the system roots.
	caFile     string
	chainCheck bool
	// caFailures logs a caFile that cannot be read, once per cause.
	caFailures *fileFailures
	// usage is the extended key usage the peer's leaf must allow.
	usage x509.ExtKeyUsage
	// serverName is the fallback host name when the handshake carried none;
	// used only on the client side.
	serverName string
	// allowed, if non-nil, must accept the peer's leaf.
	allowed func(*x509.Certificate) bool
	// crl, if non-nil, must list none of the peer's certificates.
	crl     *crlChecker
	metrics *tlsMetrics
}

// verifyConnection is the tls.Config.VerifyConnection hook.
func (v *peerVerifier) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		if v.chainCheck || v.allowed != nil {
			return errNoPeerCert
		}
		return nil
	}
	leaf := cs.PeerCertificates[0]
	if v.chainCheck {
		if err := v.verifyChain(cs); err != nil {
			return err
		}
	}
	if v.allowed != nil && !v.allowed(leaf) {
		return fmt.Errorf("%w: subject %q", ErrPeerNotAllowed, leaf.Subject.String())
	}
	return v.checkRevoked(cs.PeerCertificates)
}

// checkRevoked consults the CRL file, if any, and counts a rejection.
func (v *peerVerifier) checkRevoked(chain []*x509.Certificate) error {
	if v.crl == nil {
		return nil
	}
	err := v.crl.check(chain)
	switch {
	case err == nil:
	case !errors.Is(err, ErrCertificateRevoked):
		v.metrics.reject(reasonCRLUnavailable)
	case v.usage == x509.ExtKeyUsageClientAuth:
		v.metrics.reject(reasonClientRevoked)
	default:
		v.metrics.reject(reasonServerRevoked)
	}
	return err
}

// verifyChain verifies the presented chain against a fresh read of caFile
// at the current time.
func (v *peerVerifier) verifyChain(cs tls.ConnectionState) error {
	opts := x509.VerifyOptions{
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{v.usage},
		CurrentTime:   time.Now(),
	}
	if v.usage == x509.ExtKeyUsageServerAuth {
		// On a client, cs.ServerName is the SNI name, which omits IPs.
		opts.DNSName = cmp.Or(cs.ServerName, v.serverName)
		if opts.DNSName == "" {
			return ErrNoServerName
		}
	}
	roots, err := loadRoots(v.caFile)
	if err != nil {
		v.caFailures.failed(err)
		return err
	}
	v.caFailures.worked()
	opts.Roots = roots
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("transport: verifying peer certificate: %w", err)
	}
	return nil
}

// caFailureLog is the once-per-cause log of a TrustedCAFile that cannot
// be read when a handshake needs it.
func (info TLSInfo) caFailureLog() *fileFailures {
	return newFileFailures(info.logger(), "cannot use trusted CA file; refusing peer certificates until it reads well",
		"ca-file", info.TrustedCAFile)
}

// allowedMatcher turns the Allowed* settings into a predicate on the peer's
// leaf certificate, or nil when none is set. validate has ensured at most
// one is.
func (info TLSInfo) allowedMatcher() func(*x509.Certificate) bool {
	cns := info.AllowedCNs
	if info.AllowedCN != "" {
		cns = []string{info.AllowedCN}
	}
	hosts := info.AllowedHostnames
	if info.AllowedHostname != "" {
		hosts = []string{info.AllowedHostname}
	}
	switch {
	case len(cns) > 0:
		cns = slices.Clone(cns)
		return func(c *x509.Certificate) bool {
			return slices.Contains(cns, c.Subject.CommonName)
		}
	case len(hosts) > 0:
		hosts = slices.Clone(hosts)
		return func(c *x509.Certificate) bool {
			return slices.ContainsFunc(hosts, func(h string) bool { return c.VerifyHostname(h) == nil })
		}
	}
	return nil
}
