package rafthttptest

import "time"

// Direction is one direction of a Proxy's traffic. Its methods set that
// direction's faults for every connection through the Proxy; they act as
// the Cluster methods of the same names do on a link.
type Direction struct {
	faults *faultTable
	l      link
}

// CutAfter resets, once, the first connection to carry n bytes in this
// direction after the call, right after its n-th byte; see
// Cluster.CutAfter. The side that receives this direction's bytes is
// written exactly those n bytes and then reset; as with any TCP reset,
// its kernel discards what it had received but not yet read, so a reader
// that lags may see fewer. The channel is closed once the cut happened.
func (d *Direction) CutAfter(n int64) <-chan struct{} { return d.faults.cutAfter(d.l, n) }

// FlipByte inverts every bit of the byte at offset of the first
// connection to carry more than offset bytes in this direction after the
// call, once; see Cluster.FlipByte. The channel is closed once the byte
// was altered.
func (d *Direction) FlipByte(offset int64) <-chan struct{} { return d.faults.flipByte(d.l, offset) }

// Stall holds every byte in this direction back for dur from the call,
// then lets them flow on in order; see Cluster.Stall.
func (d *Direction) Stall(dur time.Duration) { d.faults.stall(d.l, dur) }

// SetBandwidth makes this direction a link of bytesPerSec behind one FIFO
// queue shared by every connection through the Proxy; 0 removes the
// limit. See Cluster.SetBandwidth.
func (d *Direction) SetBandwidth(bytesPerSec int) { d.faults.setBandwidth(d.l, bytesPerSec) }

// SetQueue sizes this direction's queue in bytes (at most 4 MiB; 0: the
// default, 100 ms of the bandwidth). See Cluster.SetQueue.
func (d *Direction) SetQueue(bytes int) { d.faults.setQueue(d.l, bytes) }

// SetBottleneck sends this direction's bytes through b, whose queue every
// direction given b shares, in place of its own bandwidth, until the next
// SetBandwidth or Heal. SetQueue does not resize b. A nil b removes the
// direction's limit.
func (d *Direction) SetBottleneck(b *Bottleneck) {
	var wire *bottleneck
	if b != nil {
		wire = b.b
	}
	d.faults.update(d.l, func(f *linkFaults) { f.wire, f.shared = wire, true })
}

// SetLatency delays every byte in this direction by dur.
func (d *Direction) SetLatency(dur time.Duration) {
	d.faults.update(d.l, func(f *linkFaults) { f.latency = dur })
}

// Heal removes every fault of this direction, armed cuts and flips
// included (their channels are then never closed).
func (d *Direction) Heal() { d.faults.clear(d.l) }
