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

// SetBandwidth makes from → to a link of bytesPerSec behind one FIFO
// queue that every connection from → to shares, as a router's or NIC's
// buffer is: bytes leave in the order they arrived, whichever connection
// carried them, so a heartbeat written behind a full queue waits for all
// of it to drain (depth / bytesPerSec). The queue holds 100 ms of the
// link's traffic unless SetQueue sizes it. A connection whose bytes do
// not fit stops reading its socket until they do, so its writer stalls
// once the socket buffers fill; nothing is dropped or reordered. Latency
// is added after the queue. A new SetBandwidth starts an empty queue
// (bytes already queued leave as scheduled); 0 removes the link's limit.
func (c *Cluster) SetBandwidth(from, to types.ID, bytesPerSec int) {
	c.net.faults.setBandwidth(link{from, to}, bytesPerSec)
}

// SetQueue sizes the queue of the link from → to to hold the given number
// of bytes (at most 4 MiB; 0 restores the default), for the bytes that
// arrive from then on. It applies while the link has a bandwidth, and to
// any bandwidth set later until Heal.
func (c *Cluster) SetQueue(from, to types.ID, bytes int) {
	c.net.faults.setQueue(link{from, to}, bytes)
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

// CutAfter resets, once, the connection that carries the n-th byte
// from → to. Bytes are counted per connection, from the call on: each
// connection between the two members counts the bytes it delivers
// from → to after the call (raw socket bytes: HTTP headers, chunked
// framing and body alike), and the first whose count reaches n is
// reset with a TCP RST right after its n-th byte. Its reader gets
// exactly those n bytes, then a connection-reset error; its writer, at
// from, learns of the reset from its socket, as from a crashed peer, and
// may have written more. Other connections are untouched, so heartbeats
// on a stream cannot spend a cut meant for a snapshot body unless they
// carry n bytes themselves; later connections work. n <= 0 resets the
// first connection to carry a byte after the call, before that byte.
//
// The returned channel is closed once the cut has happened. Heal or
// HealAll before then disarms it and it is never closed; a later CutAfter
// on the link replaces an unfired one.
func (c *Cluster) CutAfter(from, to types.ID, n int64) <-chan struct{} {
	return c.net.faults.cutAfter(link{from, to}, n)
}

// FlipByte inverts every bit of one byte from → to, once: the byte at
// offset (0 is the first) among those the first connection to carry more
// than offset bytes from → to after the call delivers, counted as in
// CutAfter. Every other byte is delivered unchanged, and the connection
// stays open. A negative offset is taken as 0.
//
// The returned channel is closed once the byte was altered; Heal or
// HealAll before then disarms it and it is never closed.
func (c *Cluster) FlipByte(from, to types.ID, offset int64) <-chan struct{} {
	return c.net.faults.flipByte(link{from, to}, offset)
}

// Stall holds every byte from → to back for d from the call: on live
// connections, and on connections opened meanwhile (dials succeed).
// Nothing is closed, reset or lost: writers stall once the socket buffers
// fill, readers see silence (a Read started after Stall returns delivers
// nothing before d has passed), and then the held bytes flow on in order.
// A Transport whose read timeout is shorter than d will give up on its
// connections, as it would over a real stalled link. A new Stall of the
// link replaces the previous one; Stall(from, to, 0) and Heal end it
// early.
func (c *Cluster) Stall(from, to types.ID, d time.Duration) {
	c.net.faults.stall(link{from, to}, d)
}
