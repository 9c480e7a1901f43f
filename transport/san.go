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
// arriving from remote. A certificate without IP or DNS SANs passes. One
// with SANs passes if the source IP is among its IP SANs, or, when it has
// DNS SANs, if the source IP and those names meet through DNS (see
// dnsNameSet.reaches). The DNS step is skipped when an IP SAN matched, so a
// certificate with a matching IP SAN never waits for a resolver.
func checkClientSAN(ctx context.Context, r hostResolver, cert *x509.Certificate, remote net.Addr) error {
	if len(cert.IPAddresses) == 0 && len(cert.DNSNames) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(remote.String())
	if err != nil {
		return fmt.Errorf("%w: source address %q: %v", ErrClientSANMismatch, remote, err)
	}
	source := net.ParseIP(host)
	if source != nil && slices.ContainsFunc(cert.IPAddresses, source.Equal) {
		return nil
	}
	if len(cert.DNSNames) == 0 {
		return fmt.Errorf("%w: %s is not among the IP SANs %v", ErrClientSANMismatch, host, cert.IPAddresses)
	}
	ok, lookupErr := newDNSNameSet(cert.DNSNames).reaches(ctx, r, host, source)
	switch {
	case ok:
		return nil
	case lookupErr != nil:
		return fmt.Errorf("%w: %s matches none of the DNS names %q (lookup: %v)", ErrClientSANMismatch, host, cert.DNSNames, lookupErr)
	default:
		return fmt.Errorf("%w: %s matches none of the DNS names %q", ErrClientSANMismatch, host, cert.DNSNames)
	}
}

// dnsNameSet is a certificate's DNS SANs, split into exact names and the
// suffixes of its "*.domain" wildcards (".domain").
type dnsNameSet struct {
	exact, suffixes []string
}

func newDNSNameSet(names []string) dnsNameSet {
	var s dnsNameSet
	for _, n := range names {
		if suffix, ok := strings.CutPrefix(n, "*"); ok && strings.HasPrefix(suffix, ".") {
			s.suffixes = append(s.suffixes, suffix)
		} else {
			s.exact = append(s.exact, n)
		}
	}
	return s
}

// contains reports whether name, as a reverse lookup returns it, is in the
// set: one of the exact names, or under one of the wildcard domains.
func (s dnsNameSet) contains(name string) bool {
	name = strings.TrimSuffix(name, ".")
	return slices.Contains(s.exact, name) ||
		slices.ContainsFunc(s.suffixes, func(suffix string) bool { return strings.HasSuffix(name, suffix) })
}

// reaches reports whether the source address host (ip, parsed) and the
// set meet through DNS: a reverse lookup of host yields a name in the set,
// or a forward lookup of one of the exact names yields ip. Wildcards are
// never looked up forward. When nothing matched it returns the last
// lookup error, for the log.
func (s dnsNameSet) reaches(ctx context.Context, r hostResolver, host string, ip net.IP) (bool, error) {
	reverse, lastErr := r.LookupAddr(ctx, host)
	if slices.ContainsFunc(reverse, s.contains) {
		return true, nil
	}
	if ip == nil {
		return false, lastErr
	}
	for _, n := range s.exact {
		addrs, err := r.LookupHost(ctx, n)
		if err != nil {
			lastErr = err
			continue
		}
		if slices.ContainsFunc(addrs, func(a string) bool { return ip.Equal(net.ParseIP(a)) }) {
			return true, nil
		}
	}
	return false, lastErr
}
