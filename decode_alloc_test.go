package rafthttp

// What decoding costs in allocations: stream decoders carve the messages
// they rebuild most often from shared arrays.

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// leastAllocsPerCall calls f 1,000 times in each of five trials and returns
// the fewest allocations and bytes per call of a trial. The counts are the
// whole process's, and allocations elsewhere in it (the garbage collector's,
// goroutines left by earlier tests) only ever add to them, so the least is
// the closest to f's own; one trial alone once took in over ten stray
// allocations, the whole margin of TestMsgAppV2DecodeSmallEntryLayouts.
func leastAllocsPerCall(f func()) (allocs float64, allocBytes uint64) {
	const trials, calls = 5, 1000
	allocs, allocBytes = math.Inf(1), math.MaxUint64
	for range trials {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range calls {
			f()
		}
		runtime.ReadMemStats(&after)
		allocs = min(allocs, float64(after.Mallocs-before.Mallocs)/calls)
		allocBytes = min(allocBytes, (after.TotalAlloc-before.TotalAlloc)/calls)
	}
	return allocs, allocBytes
}

// TestStreamDecodeNoEntriesShareArrays checks that the messages without
// entries a busy cluster's streams carry most cost a stream decoder a
// share of an array each (boxChunkLen or emptyAppChunkLen per allocation),
// not an allocation each.
func TestStreamDecodeNoEntriesShareArrays(t *testing.T) {
	answer := msg(raftpb.MsgAppResp, goldenRemote, goldenLocal, 1)
	answer.Index, answer.Commit = proto.Uint64(1<<20), proto.Uint64(1<<19)
	var frames bytes.Buffer
	if err := newMessageEncoder(&frames).encode(answer); err != nil {
		t.Fatal(err)
	}
	var records bytes.Buffer
	enc := newMsgAppV2Encoder(&records)
	first := 0
	for i := range uint64(2) { // a full record, then the fast-path one to replay
		first = records.Len()
		if err := enc.encode(goldenApp(1, 1, 7, i)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		dec      decoder
		perArray int
		array    uint64 // the size class an array takes
	}{
		{"message", newStreamMessageDecoder(bufio.NewReaderSize(&replayReader{loop: frames.Bytes()},
			streamReadBufSize), defaultMaxMessageBytes), boxChunkLen, 6784},
		{"msgappv2", newMsgAppV2Decoder(bufio.NewReaderSize(&replayReader{head: records.Bytes()[:first],
			loop: records.Bytes()[first:]}, streamReadBufSize), goldenLocal, goldenRemote, defaultMaxMessageBytes),
			emptyAppChunkLen, 6528},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.dec.decode(); err != nil { // the full record, or a first frame
				t.Fatal(err)
			}
			allocs, allocBytes := leastAllocsPerCall(func() {
				if m, err := tt.dec.decode(); err != nil || len(m.GetEntries()) != 0 {
					t.Fatalf("decode = %v, %v; want a message without entries", m, err)
				}
			})
			if want := 1 / float64(tt.perArray); allocs > want+0.01 {
				t.Errorf("%.3f allocations per message, want %.3f", allocs, want)
			}
			if want := tt.array / uint64(tt.perArray); allocBytes > want+4 {
				t.Errorf("%d bytes allocated per message, want at most %d", allocBytes, want)
			}
		})
	}
}

// TestMsgAppV2DecodeSmallEntryLayouts checks what decoding one fast-path
// MsgApp costs: a share of a chunk (slabChunkLen or smallChunkLen layouts
// per allocation) of the smallest layout that holds its entry's bytes
// inline, or of the bare layout and an exact copy of larger bytes (read
// through scratch when the record does not fit the read buffer).
func TestMsgAppV2DecodeSmallEntryLayouts(t *testing.T) {
	tests := []struct {
		size     int
		allocs   float64
		maxBytes uint64
	}{
		{size: 0, allocs: 1.0 / slabChunkLen, maxBytes: 7168 / slabChunkLen},
		{size: 64, allocs: 1.0 / smallChunkLen, maxBytes: 9728 / smallChunkLen},
		{size: 65, allocs: 1.0 / slabChunkLen, maxBytes: 10240 / slabChunkLen},
		{size: 128, allocs: 1.0 / slabChunkLen, maxBytes: 10240 / slabChunkLen},
		{size: 129, allocs: 1 + 1.0/slabChunkLen, maxBytes: 7168/slabChunkLen + 144},
		{size: 64 << 10, allocs: 1 + 1.0/slabChunkLen, maxBytes: 64<<10 + 7168/slabChunkLen},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dB", tt.size), func(t *testing.T) {
			var buf bytes.Buffer
			enc := newMsgAppV2Encoder(&buf)
			first := 0
			for i := range uint64(2) {
				first = buf.Len()
				if err := enc.encode(goldenApp(1, 1, i, i, make([]byte, tt.size))); err != nil {
					t.Fatal(err)
				}
			}
			// The first record is full; the second, the fast-path record, is
			// decoded over and over.
			r := &replayReader{head: buf.Bytes()[:first], loop: slices.Clone(buf.Bytes()[first:])}
			dec := newMsgAppV2Decoder(bufio.NewReaderSize(r, streamReadBufSize), goldenLocal, goldenRemote, defaultMaxMessageBytes)
			if _, err := dec.decode(); err != nil { // the full record
				t.Fatal(err)
			}
			// The next layout up costs at least 57 bytes more per message
			// (1 KiB or more per chunk), well above the margin.
			const margin = 16
			allocs, allocBytes := leastAllocsPerCall(func() {
				m, err := dec.decode()
				if err != nil || len(m.GetEntries()) != 1 || len(m.GetEntries()[0].GetData()) != tt.size {
					t.Fatalf("decode = %v, %v; want one %d-byte entry", m, err, tt.size)
				}
			})
			if allocs > tt.allocs+0.01 {
				t.Errorf("%.3f allocations per message, want %.3f", allocs, tt.allocs)
			}
			if allocBytes > tt.maxBytes+margin {
				t.Errorf("%d bytes allocated per message, want at most %d", allocBytes, tt.maxBytes)
			}
		})
	}
}
