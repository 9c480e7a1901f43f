// Package interop holds tests that run this module's rafthttp Transport
// against etcd v3.7.3's own rafthttp Transport over real HTTP, in both
// directions, to prove the two speak the same wire protocol. It has no
// non-test code.
package interop
