package etcdtest

import (
	"net"
	"testing"

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

func newPKI(t testing.TB) *PKI {
	t.Helper()
	ca := testpki.NewCA(t, "etcdtest-ca")
	cert, key := ca.Issue(t, "etcdtest-client", testpki.Leaf{CN: "etcdtest-client"})
	return &PKI{CA: ca, CAFile: ca.Bundle(t, "ca.crt"), ClientCertFile: cert, ClientKeyFile: key}
}

// issueMember signs a certificate for a member valid for 127.0.0.1 and
// localhost, used on both its peer and client ports.
func (p *PKI) issueMember(t testing.TB, name string) (certFile, keyFile string) {
	t.Helper()
	return p.CA.Issue(t, name, testpki.Leaf{
		CN:       name,
		DNSNames: []string{"localhost"},
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1)},
	})
}
