package interop

import (
	"sync/atomic"
	"testing"
)

// flakySnapshotSize is the DB of BenchmarkSnapshotFlakyLink.
const flakySnapshotSize = 256 << 20

// BenchmarkSnapshotFlakyLink sends a 256 MiB DB over a link capped at
// 50 MB/s (a rafthttptest.Proxy in front of the follower, which is served
// on its implementation's peer listener) whose first three snapshot
// connections are cut after 30% of the DB each, retrying as raft would
// until it arrives: one op is the whole catch-up. wire/DB is what crossed
// the link to the follower over the DB size; attempts counts the POSTs.
// Ours resumes after each cut; etcd's starts over.
func BenchmarkSnapshotFlakyLink(b *testing.B) {
	src := writePatternFile(b, b.TempDir(), flakySnapshotSize)
	for _, impl := range benchImpls {
		b.Run("size="+sizeName(flakySnapshotSize)+"/cuts=3/impl="+impl, func(b *testing.B) {
			p := startLinkPair(b, impl)
			p.proxy.ToServer().SetBandwidth(50e6)
			b.SetBytes(flakySnapshotSize)
			var attempts int
			var sent atomic.Int64
			b.ResetTimer()
			before := p.received.Load()
			for range b.N {
				outcomes := p.sendWithCuts(b, src, flakySnapshotSize, 3, flakySnapshotSize*3/10, 6, &sent)
				if !outcomes[len(outcomes)-1] {
					b.Fatalf("%s: no success in %v", impl, outcomes)
				}
				attempts += len(outcomes)
			}
			b.StopTimer()
			b.ReportMetric(float64(p.received.Load()-before)/float64(b.N)/flakySnapshotSize, "wire/DB")
			b.ReportMetric(float64(attempts)/float64(b.N), "attempts")
		})
	}
}
