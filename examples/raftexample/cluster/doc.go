// Package cluster builds the raftexample binary and runs members of a
// cluster as real processes on loopback, with free ports picked at run
// time. Options.Host and Options.CommandPrefix place members elsewhere,
// for example in network namespaces. The demo (make demo) and the
// end-to-end tests drive it.
package cluster
