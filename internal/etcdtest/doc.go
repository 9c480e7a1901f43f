// Package etcdtest starts real etcd server processes for tests: an N-member
// cluster on free loopback ports, each member with its own data directory
// and log file under t.TempDir(), over plain HTTP or mutual TLS with
// certificates from internal/testpki.
//
// It runs the etcd and etcdctl binaries found on PATH (Debian's etcd-server
// and etcd-client; `make etcd` installs them). When etcd is missing the test
// is skipped with the command that installs it, or fails when the
// environment variable CI is set, so CI never passes without running it.
//
// Every process is stopped in t.Cleanup, also when the test fails or calls
// t.Fatal, and is killed by the kernel if the test binary itself dies.
// Only tests import this package.
package etcdtest
