package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"testing"
)

// fakeResolver answers from maps; a missing entry is a lookup error.
type fakeResolver struct {
	reverse map[string][]string // IP → names
	forward map[string][]string // name → IPs
}

var errNoSuchHost = errors.New("no such host")

func (r fakeResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if names, ok := r.reverse[addr]; ok {
		return names, nil
	}
	return nil, errNoSuchHost
}

func (r fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if addrs, ok := r.forward[host]; ok {
		return addrs, nil
	}
	return nil, errNoSuchHost
}

func TestCheckClientSAN(t *testing.T) {
	r := fakeResolver{
		reverse: map[string][]string{"10.0.0.1": {"node1.example.com."}, "10.0.0.2": {"other.example.org."}},
		forward: map[string][]string{"node2.example.com": {"10.0.0.9", "10.0.0.2"}, "v6.example.com": {"fd00::1"}},
	}
	tests := []struct {
		name    string
		remote  net.Addr
		ips     []net.IP
		dns     []string
		wantErr bool
	}{
		{name: "no SANs", remote: tcpAddr("10.0.0.1")},
		{name: "IP SAN match", remote: tcpAddr("10.0.0.1"), ips: []net.IP{net.ParseIP("10.0.0.1")}},
		{name: "IP SAN mismatch, no DNS", remote: tcpAddr("10.0.0.1"), ips: []net.IP{net.ParseIP("10.0.0.3")}, wantErr: true},
		{name: "IP SAN mismatch, DNS reverse match", remote: tcpAddr("10.0.0.1"),
			ips: []net.IP{net.ParseIP("10.0.0.3")}, dns: []string{"node1.example.com"}},
		{name: "reverse match by wildcard", remote: tcpAddr("10.0.0.1"), dns: []string{"*.example.com"}},
		{name: "wildcard of another domain", remote: tcpAddr("10.0.0.1"), dns: []string{"*.example.net"}, wantErr: true},
		{name: "forward match", remote: tcpAddr("10.0.0.2"), dns: []string{"node2.example.com"}},
		{name: "forward match, IPv6", remote: tcpAddr("fd00::1"), dns: []string{"v6.example.com"}},
		{name: "wildcards are not looked up forward", remote: tcpAddr("10.0.0.2"), dns: []string{"*.example.com"}, wantErr: true},
		{name: "names resolve elsewhere", remote: tcpAddr("10.0.0.5"), dns: []string{"node2.example.com"}, wantErr: true},
		{name: "names do not resolve", remote: tcpAddr("10.0.0.5"), dns: []string{"gone.example.com"}, wantErr: true},
		{name: "source without a port", remote: fakeAddr("10.0.0.1"), dns: []string{"node1.example.com"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := &x509.Certificate{IPAddresses: tt.ips, DNSNames: tt.dns}
			err := checkClientSAN(context.Background(), r, cert, tt.remote)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrClientSANMismatch) {
				t.Errorf("err = %v, does not wrap ErrClientSANMismatch", err)
			}
		})
	}
}

func tcpAddr(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 2380} }

// fakeAddr is an address without a port.
type fakeAddr string

func (a fakeAddr) Network() string { return "fake" }
func (a fakeAddr) String() string  { return string(a) }
