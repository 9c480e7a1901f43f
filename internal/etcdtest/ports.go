package etcdtest

import (
	"net"
	"strconv"
	"testing"
)

// freePorts returns n distinct loopback ports that were free a moment ago.
// All n listeners are held until every port is known, so the kernel cannot
// hand the same port out twice; another process may still take one before
// etcd binds it, and Start then plans the cluster again on fresh ports.
func freePorts(t testing.TB, n int) []string {
	t.Helper()
	ports := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("etcdtest: reserving a port: %v", err)
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports
}
