package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// handshakeTLS runs the TLS handshake over conn and describes it. host is
// the URL's host, used for SNI (names only) and verification unless a
// server name was given.
func (s *tlsSetup) handshakeTLS(ctx context.Context, conn net.Conn, host string, now time.Time) (*tls.Conn, *TLSResult) {
	ask := &clientAsk{}
	tc := tls.Client(conn, s.config(s.sni(host), ask))
	err := tc.HandshakeContext(ctx)
	res := &TLSResult{ClientCertRequested: ask.requested.Load(), ClientCertSent: ask.sent.Load()}
	if err != nil {
		res.HandshakeError = err.Error()
		return nil, res
	}
	st := tc.ConnectionState()
	res.Version = tls.VersionName(st.Version)
	res.Cipher = tls.CipherSuiteName(st.CipherSuite)
	if len(st.PeerCertificates) > 0 {
		describeCert(res, st.PeerCertificates[0], now)
		res.Verified, res.VerifyError = s.verifyPeer(st.PeerCertificates, s.nameToVerify(host), now)
	}
	return tc, res
}

// sni is the server name sent in the ClientHello: the one given, else the
// host if it is a name (SNI carries no IP addresses).
func (s *tlsSetup) sni(host string) string {
	if s.serverName != "" {
		return s.serverName
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}

func (s *tlsSetup) nameToVerify(host string) string {
	if s.serverName != "" {
		return s.serverName
	}
	return host
}

// describeCert copies what an operator needs from the leaf certificate.
func describeCert(res *TLSResult, leaf *x509.Certificate, now time.Time) {
	res.Subject = leaf.Subject.String()
	res.Issuer = leaf.Issuer.String()
	res.NotAfter = leaf.NotAfter.UTC()
	res.DaysLeft = int(leaf.NotAfter.Sub(now) / (24 * time.Hour))
	for _, d := range leaf.DNSNames {
		res.SANs = append(res.SANs, "DNS:"+d)
	}
	for _, ip := range leaf.IPAddresses {
		res.SANs = append(res.SANs, "IP:"+ip.String())
	}
	for _, u := range leaf.URIs {
		res.SANs = append(res.SANs, "URI:"+u.String())
	}
}

// verifyPeer checks the chain against the CA bundle (or the system roots)
// and the name, as an etcd member dialling this peer would, and explains a
// failure in plain words.
func (s *tlsSetup) verifyPeer(chain []*x509.Certificate, name string, now time.Time) (bool, string) {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: s.roots, Intermediates: inter, DNSName: name, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return false, explainVerify(err, chain[0], now, s.roots == nil)
	}
	return true, ""
}

// explainVerify turns a verification error into an operator's sentence.
// systemRoots says whether the system's CAs were used, not --cacert.
func explainVerify(err error, leaf *x509.Certificate, now time.Time, systemRoots bool) string {
	var inv x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired && now.After(leaf.NotAfter):
		return fmt.Sprintf("certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return fmt.Sprintf("certificate (or its CA) is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	case errors.As(err, &unknown) && systemRoots:
		return fmt.Sprintf("signed by %q, which the system's trusted CAs do not include (pass --cacert)", leaf.Issuer.String())
	case errors.As(err, &unknown):
		return fmt.Sprintf("signed by %q, which the CA bundle does not contain", leaf.Issuer.String())
	case errors.As(err, &host):
		return fmt.Sprintf("certificate is not valid for %q (it names %s)", host.Host, strings.Join(certNames(leaf), ", "))
	default:
		return err.Error()
	}
}

func certNames(c *x509.Certificate) []string {
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		names = append(names, "no DNS or IP name")
	}
	return names
}
