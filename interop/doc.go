// Package interop holds tests that run this module's rafthttp Transport
// against etcd's own rafthttp Transport (the release go.mod names, v3.7.4)
// over real HTTP, in both directions, to prove the two speak the same wire
// protocol. It has no non-test code.
package interop
