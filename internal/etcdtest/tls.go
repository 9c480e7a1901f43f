package etcdtest

import (
	"net"
	"testing"
	"time"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

// PeerTLS names the files a member serves its peer port with, as etcd's
// --peer-* flags take them. The zero value means plain HTTP.
type PeerTLS struct {
	CertFile       string // --peer-cert-file
	KeyFile        string // --peer-key-file
	TrustedCAFile  string // --peer-trusted-ca-file
	CRLFile        string // --peer-crl-file; empty for none
	ClientCertAuth bool   // --peer-client-cert-auth
}

// enabled reports whether the member serves TLS on its peer port.
func (p PeerTLS) enabled() bool { return p.CertFile != "" }

// args renders p as etcd flags.
func (p PeerTLS) args() []string {
	if !p.enabled() {
		return nil
	}
	args := []string{"--peer-cert-file", p.CertFile, "--peer-key-file", p.KeyFile}
	if p.TrustedCAFile != "" {
		args = append(args, "--peer-trusted-ca-file", p.TrustedCAFile)
	}
	if p.CRLFile != "" {
		args = append(args, "--peer-crl-file", p.CRLFile)
	}
	if p.ClientCertAuth {
		args = append(args, "--peer-client-cert-auth")
	}
	return args
}

// PKI is the test PKI of a TLS cluster: one CA that signs every member's
// certificate and a client certificate for tools talking to the members.
type PKI struct {
	CA             *testpki.CA
	CAFile         string // the CA certificate (PEM)
	ClientCertFile string // CN "etcdtest-client", server and client auth
	ClientKeyFile  string
}

// NewPKI creates a fresh CA with a client certificate. Pass it as
// Config.PKI to issue member certificates from it before Start, for
// example in a Config.PeerTLS callback.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	ca := testpki.NewCA(t, "etcdtest-ca")
	cert, key := ca.Issue(t, "etcdtest-client", testpki.Leaf{CN: "etcdtest-client"})
	return &PKI{CA: ca, CAFile: ca.Bundle(t, "ca.crt"), ClientCertFile: cert, ClientKeyFile: key}
}

// IssueMember signs a certificate like the ones members get: l with CN
// name (unless set), the names 127.0.0.1 and localhost (unless l has
// names of its own) and, unless l says otherwise, valid for a year, so
// that it is not reported as about to expire. It is written as <file>.crt and <file>.key in the
// CA's directory.
func (p *PKI) IssueMember(t testing.TB, file, name string, l testpki.Leaf) (certFile, keyFile string) {
	t.Helper()
	return IssueMember(t, p.CA, file, name, l)
}

// IssueMember is PKI.IssueMember with any CA, such as one the cluster does
// not trust.
func IssueMember(t testing.TB, ca *testpki.CA, file, name string, l testpki.Leaf) (certFile, keyFile string) {
	t.Helper()
	if l.CN == "" {
		l.CN = name
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	if l.DNSNames == nil && l.IPs == nil {
		l.DNSNames, l.IPs = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	return ca.Issue(t, file, l)
}
