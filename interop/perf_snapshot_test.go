package interop

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// snapshotSizeEnv overrides the DB sizes of BenchmarkSnapshot, a comma-
// separated list, e.g. BENCH_SNAPSHOT_SIZE=64MiB; the default is
// 1GiB,4GiB.
const snapshotSizeEnv = "BENCH_SNAPSHOT_SIZE"

// snapshotTimeout bounds one transfer.
const snapshotTimeout = 10 * time.Minute

// BenchmarkSnapshot sends a DB from a file to the follower's snapshot
// directory: one op is SendSnapshot until CloseNotify reports true and the
// follower processed the MsgSnap (its Snapshotter has fsynced the file).
// impl=rawtcp is the baseline: the same file copied with io.Copy over one
// loopback TCP connection into a temporary file that is fsynced and
// renamed, then acknowledged. peak-heap-MiB is the live-heap growth during
// a transfer (sampled every 5 ms), peak-rss-MiB the process's resident-set
// growth: both stay flat as the DB grows when the DB is streamed.
func BenchmarkSnapshot(b *testing.B) {
	pairs := startBenchPairs(b, 1, 64)
	for _, size := range snapshotBenchSizes(b) {
		benchSnapshotSize(b, pairs, size)
	}
}

// benchSnapshotSize runs every implementation on a DB of size bytes,
// written to a file only for as long as its cases run.
func benchSnapshotSize(b *testing.B, pairs map[string]*perfPair, size int64) {
	dir, err := os.MkdirTemp("", "snapbench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src := writePatternFile(b, dir, size)
	b.Run("size="+sizeName(int(size)), func(b *testing.B) {
		for _, impl := range benchImpls {
			b.Run("impl="+impl, func(b *testing.B) {
				p := pairs[impl]
				benchTransfers(b, size, func(index uint64) error { return p.sendSnapshotFile(src, size, index) })
			})
		}
		b.Run("impl="+implRawTCP, func(b *testing.B) {
			dst := b.TempDir()
			benchTransfers(b, size, func(uint64) error { return rawFileCopy(src, dst, size) })
		})
	})
}

// snapshotIndex numbers snapshot transfers across the process.
var snapshotIndex uint64 = 0x1000

// benchTransfers runs b.N transfers of size bytes and reports the peak
// heap and RSS growth.
func benchTransfers(b *testing.B, size int64, transfer func(index uint64) error) {
	b.SetBytes(size)
	b.ReportAllocs()
	var peakHeap, peakRSS uint64
	for range b.N {
		b.StopTimer()
		snapshotIndex++
		mem := startMemWatch()
		b.StartTimer()
		err := transfer(snapshotIndex)
		b.StopTimer()
		heap, rss := mem.stop()
		if err != nil {
			b.Fatal(err)
		}
		peakHeap, peakRSS = max(peakHeap, heap), max(peakRSS, rss)
		b.StartTimer()
	}
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-rss-MiB")
}

// sendSnapshotFile sends the file at src as the DB of a MsgSnap at index,
// waits for success and for the follower's Process, and removes the saved
// copy.
func (p *perfPair) sendSnapshotFile(src string, size int64, index uint64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	done := p.leader.tr.sendSnapshot(snapMessage(leaderID, followerID, index), &onceCloser{File: f}, size)
	timer := time.NewTimer(snapshotTimeout)
	defer timer.Stop()
	select {
	case ok := <-done:
		if !ok {
			return fmt.Errorf("%s: CloseNotify reported failure", p.impl)
		}
	case <-timer.C:
		return fmt.Errorf("%s: snapshot not sent within %v", p.impl, snapshotTimeout)
	}
	for {
		select {
		case got := <-p.follower.raft.snaps:
			if got != index {
				continue
			}
			if n := p.leader.raft.snapFailures.Load(); n != 0 {
				return fmt.Errorf("%s: %d snapshot failures reported", p.impl, n)
			}
			return os.Remove(filepath.Join(p.follower.snapDir, fmt.Sprintf("%016x.snap.db", index)))
		case <-timer.C:
			return fmt.Errorf("%s: MsgSnap %d not processed within %v", p.impl, index, snapshotTimeout)
		}
	}
}

// rawFileCopy copies size bytes of src over a fresh loopback TCP
// connection into a temporary file in dstDir, fsyncs and renames it, syncs
// the directory (as both Snapshotters do) and acknowledges with one byte.
// Go's io.Copy uses sendfile(2) on the sending side and splice(2) on the
// receiving side here.
func rawFileCopy(src, dstDir string, size int64) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	recvErr := make(chan error, 1)
	go func() { recvErr <- receiveRawFile(ln, dstDir, size) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(c, f); err != nil {
		return err
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("rawtcp: no acknowledgement: %w (receiver: %v)", err, <-recvErr)
	}
	return <-recvErr
}

// receiveRawFile accepts one connection and stores what it carries.
func receiveRawFile(ln net.Listener, dstDir string, size int64) error {
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := os.CreateTemp(dstDir, "raw")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, io.LimitReader(c, size))
	if err == nil && n != size {
		err = fmt.Errorf("rawtcp: received %d bytes, want %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	final := filepath.Join(dstDir, "raw.db")
	if err == nil {
		err = os.Rename(f.Name(), final)
	}
	if err == nil {
		err = syncDirectory(dstDir)
	}
	if err == nil {
		_, err = c.Write([]byte{1})
	}
	os.Remove(final)
	return err
}

func syncDirectory(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// snapshotBenchSizes reads BENCH_SNAPSHOT_SIZE: a comma-separated list
// of bytes, or numbers with a KiB, MiB or GiB suffix.
func snapshotBenchSizes(tb testing.TB) []int64 {
	tb.Helper()
	v := os.Getenv(snapshotSizeEnv)
	if v == "" {
		return []int64{1 << 30, 4 << 30}
	}
	var sizes []int64
	for _, s := range strings.Split(v, ",") {
		n, err := parseSize(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			tb.Fatalf("%s=%q: want sizes in bytes or with KiB, MiB or GiB, separated by commas", snapshotSizeEnv, v)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

func parseSize(s string) (int64, error) {
	shift := 0
	for suffix, sh := range map[string]int{"KiB": 10, "MiB": 20, "GiB": 30} {
		if strings.HasSuffix(s, suffix) {
			s, shift = strings.TrimSuffix(s, suffix), sh
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n << shift, err
}

// writePatternFile writes size bytes of pseudo-random data (no holes, no
// compressible runs) to a file in dir and returns its path.
func writePatternFile(tb testing.TB, dir string, size int64) string {
	tb.Helper()
	p := filepath.Join(dir, "db")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.NewChaCha8([32]byte{'r', 'a', 'f', 't'})
	if _, err := io.CopyN(w, rng, size); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return p
}

// memWatch samples the live heap every 5 ms and tracks the resident-set
// high-water mark, from a baseline taken after a GC.
type memWatch struct {
	baseHeap, baseRSS uint64
	rssReset          bool
	done              chan struct{}
	wg                sync.WaitGroup
	peakHeap          uint64 // owned by the sampler until done
}

// heapObjectsMetric is the heap occupied by objects, live or not yet swept.
const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

func startMemWatch() *memWatch {
	runtime.GC()
	m := &memWatch{done: make(chan struct{}), baseHeap: readMetric(heapObjectsMetric)}
	m.baseRSS = procStatusBytes("VmRSS")
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
	m.rssReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	m.peakHeap = m.baseHeap
	m.wg.Go(m.sample)
	return m
}

func (m *memWatch) sample() {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-tick.C:
			m.peakHeap = max(m.peakHeap, readMetric(heapObjectsMetric))
		}
	}
}

// stop returns the peak heap and RSS growth over the baselines; the RSS
// growth is 0 where the high-water mark cannot be reset.
func (m *memWatch) stop() (heap, rss uint64) {
	close(m.done)
	m.wg.Wait()
	if m.rssReset {
		if hwm := procStatusBytes("VmHWM"); hwm > m.baseRSS {
			rss = hwm - m.baseRSS
		}
	}
	return m.peakHeap - m.baseHeap, rss
}

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// procStatusBytes reads a "kB" field of /proc/self/status, or 0.
func procStatusBytes(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
