// Package cluster builds the raftexample binary and runs members of a
// cluster as real processes on loopback, with free ports picked at run
// time. The demo (make demo) and the end-to-end tests drive it.
package cluster
