//go:build rafthttp_long

package rafthttp

import (
	"testing"
	"time"
)

// The large-scale proofs, with this package's own socket faults.
// They move a gigabyte each, so they build only with the rafthttp_long
// tag, and are meant to run without -race:
//
//	go test -tags rafthttp_long -run 'TestLong' -v -timeout 30m .

// A 1 GiB snapshot capped at 20 MB/s, cut at about 30%, 60% and 90%:
// it completes in four attempts with at most 1.1x its size on the wire,
// byte-identical.
func TestLongSnapshotCutThreeTimes(t *testing.T) {
	const size = 1 << 30
	faults := &stFaults{cuts: []int64{size * 3 / 10, size * 3 / 10, size * 3 / 10}}
	a, _, dir := stPair(t, faults, func(tr *Transport) { tr.Limits.SnapshotSendBytesPerSecond = 20e6 }, nil)
	start := time.Now()
	outcomes := stSendUntilDone(t, a, 9, size, 6)
	wire, posts := faults.stats()
	t.Logf("%d attempts %v in %v; %d POSTs put %d bytes on the wire for %d (%.3fx)",
		len(outcomes), outcomes, time.Since(start).Round(time.Second), posts, wire, int64(size), float64(wire)/size)
	if wire > size*11/10 {
		t.Errorf("%.3fx the DB on the wire, want at most 1.1x", float64(wire)/size)
	}
	stCheckDB(t, dir, 9, size)
}

// A 1 GiB snapshot whose link stalls for 10 s twice completes in one
// attempt with the default stall timeout.
func TestLongSnapshotStallsTwice(t *testing.T) {
	const size = 1 << 30
	faults := &stFaults{pauses: []int64{size / 3, 2 * size / 3}, pauseFor: 10 * time.Second}
	a, _, dir := stPair(t, faults, nil, nil)
	start := time.Now()
	outcomes := stSendUntilDone(t, a, 9, size, 1)
	t.Logf("%v in %v", outcomes, time.Since(start).Round(time.Second))
	stCheckDB(t, dir, 9, size)
}
