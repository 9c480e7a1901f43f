package rafthttp

import (
	"errors"
	"hash"
	"sync"
)

// Checksummed inside the loop that reads and writes them, a snapshot's
// bytes each wait for the checksum on both sides. With SHA-256, at some
// 1.3 GB/s per core with SHA-NI (about the rate at which loopback TCP and
// the page cache move bytes), that halved a transfer; CRC-32C costs far
// less but would still be serial. A hashPipe hashes on its own goroutine
// instead: the I/O loop fills a buffer, hands it over and goes on with the
// next one while the last is hashed.

const (
	// hashPipeBuffers bounds how far hashing may lag behind the I/O: one
	// buffer is hashed while the next is filled. More absorbed no jitter
	// that showed in BenchmarkSnapshot, and cost memory.
	hashPipeBuffers = 2
	// hashPipeBufSize is one buffer, and the chunk size of an extended
	// upload: large enough that a read or write, a chunk header and the
	// hand-over to the hasher are cheap per byte, small enough that a
	// sender's and a receiver's buffers stay within 512 KiB together.
	hashPipeBufSize = 128 << 10
)

// errHashPipeStopped is what a hashPipe's producer gets once the pipe was
// stopped: the transfer it served is over.
var errHashPipeStopped = errors.New("rafthttp: snapshot transfer ended")

// hashPipe feeds the bytes that one producer hands it, in order, to a hash
// on a goroutine of its own. The producer takes a buffer with buf, fills
// it and queues it with put; finish waits until all queued bytes are
// hashed and gives the hash back. The owner ends the goroutine with stop
// or finish; stop may come from another goroutine than the producer's,
// and the producer's next call then fails.
type hashPipe struct {
	// Immutable:
	size  int           // bytes per buffer
	work  chan []byte   // queued bytes, in order; closed by finish
	free  chan []byte   // hashed buffers, at full length, for reuse
	stopc chan struct{} // closed by stop

	// Owned by the producer:
	allocated int  // buffers made so far, at most hashPipeBuffers
	finished  bool // finish was called: work is closed

	// Owned by the goroutine until wg.Wait returns:
	h       hash.Hash
	drained bool // every queued byte was hashed

	wg       sync.WaitGroup
	stopOnce sync.Once
}

// startHashPipe starts hashing into h the bytes of a stream of at most
// limit bytes; buffers are no larger than the stream needs.
func startHashPipe(h hash.Hash, limit int64) *hashPipe {
	p := &hashPipe{
		size:  int(min(max(limit, 1), hashPipeBufSize)),
		work:  make(chan []byte, hashPipeBuffers),
		free:  make(chan []byte, hashPipeBuffers),
		stopc: make(chan struct{}),
		h:     h,
	}
	p.wg.Go(p.run)
	return p
}

func (p *hashPipe) run() {
	for {
		select {
		case b, ok := <-p.work:
			if !ok {
				p.drained = true
				return
			}
			p.h.Write(b)
			// Never blocks: free has room for every buffer there is.
			p.free <- b[:cap(b)]
		case <-p.stopc:
			return
		}
	}
}

// buf returns a buffer for the producer to fill, waiting while all of
// them are queued for hashing.
func (p *hashPipe) buf() ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	if p.allocated < hashPipeBuffers {
		p.allocated++
		return make([]byte, p.size), nil
	}
	select {
	case b := <-p.free:
		return b, nil
	case <-p.stopc:
		return nil, errHashPipeStopped
	}
}

// put queues b, a prefix of a buffer from buf, for hashing. The producer
// may go on reading b (to write it elsewhere) but must not change it; the
// buffer comes back from buf once hashed.
func (p *hashPipe) put(b []byte) error {
	if p.finished {
		return errHashPipeStopped
	}
	select {
	case <-p.stopc: // even if work has room: nobody is hashing
		return errHashPipeStopped
	default:
	}
	if len(b) == 0 {
		p.free <- b[:cap(b)]
		return nil
	}
	select {
	case p.work <- b:
		return nil
	case <-p.stopc:
		return errHashPipeStopped
	}
}

// finish waits until every byte put is hashed, ends the goroutine and
// returns the hash. The producer calls it after its last put. It fails if
// the pipe was stopped first.
func (p *hashPipe) finish() (hash.Hash, error) {
	if !p.finished {
		p.finished = true
		close(p.work)
	}
	p.wg.Wait()
	if !p.drained {
		return nil, errHashPipeStopped
	}
	return p.h, nil
}

// stop ends the goroutine, abandoning what is queued, and waits for it.
// Safe to call more than once and after finish.
func (p *hashPipe) stop() {
	p.stopOnce.Do(func() { close(p.stopc) })
	p.wg.Wait()
}
