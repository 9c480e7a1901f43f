// Package reliability holds end-to-end tests of rafthttp under faults:
// restarts, half-open peers, partitions with real raft nodes, snapshots
// cut mid-transfer, shutdown during a transfer, and peer churn. It runs
// clusters from rafthttptest and has no non-test code.
//
// Each test logs what it measured (reconnect times, detection times,
// counts) with t.Logf; run with -v to see the figures.
package reliability
