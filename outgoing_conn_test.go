package rafthttp

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// chunkRecorder records each Write a response gets: each becomes one HTTP
// chunk on the wire.
type chunkRecorder struct {
	header  http.Header
	chunks  [][]byte
	flushes int
}

func (r *chunkRecorder) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}
func (r *chunkRecorder) WriteHeader(int) {}
func (r *chunkRecorder) Write(p []byte) (int, error) {
	r.chunks = append(r.chunks, bytes.Clone(p))
	return len(p), nil
}
func (r *chunkRecorder) FlushError() error {
	r.flushes++
	return nil
}

func (r *chunkRecorder) sizes() []int {
	var n []int
	for _, c := range r.chunks {
		n = append(n, len(c))
	}
	return n
}

func TestOutgoingConnChunks(t *testing.T) {
	rec := &chunkRecorder{}
	pool := &bufferPool{}
	c := newOutgoingConn(streamTypeMsgAppV2, 1, 2, rec, time.Second, pool)
	small, large := bytes.Repeat([]byte("s"), 100), bytes.Repeat([]byte("L"), outgoingDirectBytes)

	// Small writes are gathered into one chunk at Flush.
	for range 3 {
		if _, err := c.Write(small); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.chunks) != 0 {
		t.Fatalf("small writes reached the response before Flush: %v", rec.sizes())
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := rec.sizes(); len(got) != 1 || got[0] != 300 || rec.flushes != 1 {
		t.Fatalf("after Flush: chunks %v, flushes %d; want one 300-byte chunk, one flush", got, rec.flushes)
	}
	if c.buf != nil {
		t.Error("an idle conn kept its write buffer after Flush")
	}

	// A large write goes out whole, after what was buffered before it.
	rec.chunks = nil
	c.Write(small)
	c.Write(large)
	c.Write(small)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := rec.sizes(); len(got) != 3 || got[0] != 100 || got[1] != len(large) || got[2] != 100 {
		t.Fatalf("chunks %v, want [100 %d 100]", got, len(large))
	}

	// Filling the buffer sends it as a chunk without waiting for Flush.
	rec.chunks = nil
	n := 0
	for n+len(small) <= outgoingBufSize {
		c.Write(small)
		n += len(small)
	}
	c.Write(small)
	if got := rec.sizes(); len(got) != 1 || got[0] != n {
		t.Fatalf("chunks %v after overfilling the buffer, want one of %d bytes", got, n)
	}
	c.Flush()
	want := bytes.Repeat(small, n/len(small)+1)
	if got := bytes.Join(rec.chunks, nil); !bytes.Equal(got, want) {
		t.Fatalf("bytes written differ from bytes sent (%d vs %d)", len(got), len(want))
	}
}
