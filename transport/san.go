package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// ErrClientSANMismatch fails a connection, after its handshake, whose
// client certificate names IP addresses or DNS names of which none matches
// the address the connection comes from (see TLSInfo.SkipClientSANVerify).
var ErrClientSANMismatch = errors.New("transport: client certificate SANs do not match the connection's source address")

// hostResolver is the part of *net.Resolver the SAN check needs.
type hostResolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// checkClientSAN applies etcd's peer listener rule to a client certificate
// arriving from remote:
//   - a certificate with neither IP nor DNS SANs passes;
//   - the source IP passes if it is one of the IP SANs;
//   - otherwise, if there are DNS SANs, it passes if a reverse lookup of
//     the source IP yields one of them (a "*.domain" SAN matches any name
//     ending in ".domain"), or if a forward lookup of one of the plain DNS
//     SANs yields the source IP.
func checkClientSAN(ctx context.Context, r hostResolver, cert *x509.Certificate, remote net.Addr) error {
	if len(cert.IPAddresses) == 0 && len(cert.DNSNames) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(remote.String())
	if err != nil {
		return fmt.Errorf("%w: source address %q: %v", ErrClientSANMismatch, remote, err)
	}
	if len(cert.IPAddresses) > 0 {
		err := cert.VerifyHostname(host)
		if err == nil {
			return nil
		}
		if len(cert.DNSNames) == 0 {
			return fmt.Errorf("%w: %v", ErrClientSANMismatch, err)
		}
	}
	ok, lookupErr := dnsNamesMatch(ctx, r, host, cert.DNSNames)
	if ok {
		return nil
	}
	if lookupErr != nil {
		return fmt.Errorf("%w: %s matches none of the DNS names %q (lookup: %v)", ErrClientSANMismatch, host, cert.DNSNames, lookupErr)
	}
	return fmt.Errorf("%w: %s matches none of the DNS names %q", ErrClientSANMismatch, host, cert.DNSNames)
}

// dnsNamesMatch looks host (an IP address) up in both directions against
// names. It returns the last lookup error when nothing matched.
func dnsNamesMatch(ctx context.Context, r hostResolver, host string, names []string) (bool, error) {
	var plain, suffixes []string
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, "*"); ok && strings.HasPrefix(rest, ".") {
			suffixes = append(suffixes, rest)
		} else {
			plain = append(plain, n)
		}
	}
	reverse, lastErr := r.LookupAddr(ctx, host)
	for _, name := range reverse {
		name = strings.TrimSuffix(name, ".")
		if slices.Contains(plain, name) || hasAnySuffix(name, suffixes) {
			return true, nil
		}
	}
	ip := net.ParseIP(host)
	for _, n := range plain {
		addrs, err := r.LookupHost(ctx, n)
		if err != nil {
			lastErr = err
			continue
		}
		for _, a := range addrs {
			if ip != nil && ip.Equal(net.ParseIP(a)) {
				return true, nil
			}
		}
	}
	return false, lastErr
}

func hasAnySuffix(name string, suffixes []string) bool {
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}
