package rafthttptest

import (
	"time"

	"github.com/rafthttp/rafthttp/types"
)

// Faults act on directed links: Partition(1, 2) affects what member 1
// sends to member 2 and nothing else. They are applied to connections and
// dials between members, never inside a Transport.

// Partition cuts traffic from → to: live connections between the two are
// reset, from's new connections to `to` are refused, and bytes from → to on
// connections `to` opens are held back, so `to` sees a half-open peer and
// from's writes stall once the socket buffers are full. Traffic to → from
// still flows.
func (c *Cluster) Partition(from, to types.ID) {
	c.net.faults.update(link{from, to}, func(f *linkFaults) {
		f.blocked = true
		f.refuseDial = true
	})
	c.net.reset(from, to)
}

// PartitionBoth cuts traffic between a and b in both directions.
func (c *Cluster) PartitionBoth(a, b types.ID) {
	c.Partition(a, b)
	c.Partition(b, a)
}

// Isolate cuts every link to and from id.
func (c *Cluster) Isolate(id types.ID) {
	for _, m := range c.members {
		if m.ID != id {
			c.PartitionBoth(id, m.ID)
		}
	}
}

// Heal removes every fault from → to. Bytes held back on half-open
// connections flow on in order, as TCP's retransmissions would carry them,
// unless a Transport closed the connection meanwhile; new connections work.
func (c *Cluster) Heal(from, to types.ID) { c.net.faults.clear(link{from, to}) }

// HealAll removes every fault in the cluster.
func (c *Cluster) HealAll() { c.net.faults.clearAll() }

// SetLatency delays every byte from → to by d.
func (c *Cluster) SetLatency(from, to types.ID, d time.Duration) {
	c.net.faults.update(link{from, to}, func(f *linkFaults) { f.latency = d })
}

// SetBandwidth caps traffic from → to at bytesPerSec; 0 removes the cap.
func (c *Cluster) SetBandwidth(from, to types.ID, bytesPerSec int) {
	c.net.faults.update(link{from, to}, func(f *linkFaults) { f.limiter = newLimiter(bytesPerSec) })
}

// DropMessages makes `to` ignore the given fraction (0 to 1) of the raft
// messages `from` sends it, chosen at random: lost messages as raft sees
// them. The Transport delivers them; the member's Raft never gets them.
func (c *Cluster) DropMessages(from, to types.ID, fraction float64) {
	c.net.faults.update(link{from, to}, func(f *linkFaults) { f.dropRate = clampFraction(fraction) })
}

// Reset closes every live connection between a and b with a TCP RST. New
// connections work.
func (c *Cluster) Reset(a, b types.ID) { c.net.reset(a, b) }

// Blackhole makes id a half-open peer: connections to it are accepted and
// kept, but nothing it sends or receives gets through, and nobody is told.
// HealAll (or Heal of each link) ends it; see Heal.
func (c *Cluster) Blackhole(id types.ID) {
	for _, m := range c.members {
		if m.ID == id {
			continue
		}
		c.net.faults.update(link{id, m.ID}, func(f *linkFaults) { f.blocked = true })
		c.net.faults.update(link{m.ID, id}, func(f *linkFaults) { f.blocked = true })
	}
}
