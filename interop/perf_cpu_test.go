package interop

// CPU time per message, measured two ways around the timed part of a run:
//
//   - The process's CPU time (user + system, getrusage): everything the
//     process did, both Transports of the pair, the driver, the garbage
//     collector's background work and the other implementation's idle
//     pair. Exact, but not split.
//   - A CPU profile, which the runtime samples 100 times per CPU-second on
//     each thread, each sample carrying the pprof labels of the goroutine
//     that was running. A goroutine inherits its creator's labels, so a
//     member started and given its peers under labels (impl, side) tags
//     every goroutine it owns: its Transport's, its HTTP server's and
//     connections', and its HTTP client's. The garbage collector's
//     background workers are the runtime's and carry none; its assists are
//     charged to the goroutine that allocated. A sample is 10 ms of CPU, so
//     a split share p of n samples is uncertain by about sqrt(p(1-p)/n).
//
// A profile is skipped (the split left out) if another one is running,
// as under `go test -cpuprofile`.

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Label keys and the values the suite gives them.
const (
	labelImpl   = "impl"
	labelSide   = "side"   // a pair's members
	labelMember = "member" // a raft cluster's members, by ID
	labelPart   = "part"   // what a raft cluster's goroutine does

	sideSend = "send"
	sideRecv = "recv"

	partRaft      = "raft"      // raft nodes and their loops
	partTransport = "transport" // Transports, their servers and Send calls
	partStep      = "step"      // raft's Node.Step, called by a Transport
	partClients   = "clients"   // the goroutines that propose
)

// labelsCtx returns a context carrying the pprof labels kv (key, value...).
func labelsCtx(kv ...string) context.Context {
	return pprof.WithLabels(context.Background(), pprof.Labels(kv...))
}

// labelKey is how a label set is named in a cpuUsage: "k1=v1,k2=v2", keys
// sorted; "" for no labels.
func labelKey(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+kv[i+1])
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// withLabels runs fn with the calling goroutine labelled ctx's labels, so
// goroutines fn starts inherit them.
func withLabels(ctx context.Context, fn func()) {
	defer pprof.SetGoroutineLabels(context.Background())
	pprof.SetGoroutineLabels(ctx)
	fn()
}

// cpuUsage is the CPU time of a run.
type cpuUsage struct {
	process time.Duration // user + system time of the process
	// switches counts the process's voluntary context switches: a thread
	// that blocked (to sleep in a futex or epoll wait), i.e. wake-ups.
	switches int64
	byLabel  map[string]time.Duration // profiled CPU by labelKey; nil if not profiled
}

// labelled returns the profiled CPU of goroutines whose labels include
// every pair of kv, and whether the run was profiled.
func (u cpuUsage) labelled(kv ...string) (time.Duration, bool) {
	if u.byLabel == nil {
		return 0, false
	}
	var sum time.Duration
	for key, d := range u.byLabel {
		if hasLabels(key, kv) {
			sum += d
		}
	}
	return sum, true
}

func hasLabels(key string, kv []string) bool {
	have := strings.Split(key, ",")
	for i := 0; i+1 < len(kv); i += 2 {
		if !slices.Contains(have, kv[i]+"="+kv[i+1]) {
			return false
		}
	}
	return true
}

// cpuMeter measures one run; start it just before the timed part.
type cpuMeter struct {
	start    time.Duration
	switches int64
	prof     *bytes.Buffer // nil if another profile was running
}

func startCPUMeter() (*cpuMeter, error) {
	ru, err := processRusage()
	if err != nil {
		return nil, err
	}
	m := &cpuMeter{start: rusageCPU(ru), switches: ru.Nvcsw, prof: new(bytes.Buffer)}
	if pprof.StartCPUProfile(m.prof) != nil {
		m.prof = nil
	}
	return m, nil
}

// stop ends the measurement.
func (m *cpuMeter) stop() (cpuUsage, error) {
	if m.prof != nil {
		pprof.StopCPUProfile()
	}
	ru, err := processRusage()
	if err != nil {
		return cpuUsage{}, err
	}
	u := cpuUsage{process: rusageCPU(ru) - m.start, switches: ru.Nvcsw - m.switches}
	if m.prof != nil {
		if u.byLabel, err = profileCPUByLabel(m.prof); err != nil {
			return cpuUsage{}, fmt.Errorf("reading the CPU profile: %w", err)
		}
	}
	return u, nil
}

// processCPU returns the process's user plus system time so far.
func processCPU() (time.Duration, error) {
	ru, err := processRusage()
	if err != nil {
		return 0, err
	}
	return rusageCPU(ru), nil
}

// processRusage returns the process's resource usage so far.
func processRusage() (*syscall.Rusage, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return nil, fmt.Errorf("getrusage: %w", err)
	}
	return &ru, nil
}

// rusageCPU is ru's user plus system time.
func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU per op as cpu-ns/<op>, its
// voluntary context switches per op as wakeups/<op>, and for each
// metric name in split (e.g. "send") the profiled CPU of the goroutines
// with those labels per op as <name>-cpu-ns/<op>.
func reportCPU(b *testing.B, u cpuUsage, ops int, op string, split map[string][]string) {
	b.Helper()
	b.ReportMetric(float64(u.process.Nanoseconds())/float64(ops), "cpu-ns/"+op)
	b.ReportMetric(float64(u.switches)/float64(ops), "wakeups/"+op)
	for name, kv := range split {
		if d, ok := u.labelled(kv...); ok {
			b.ReportMetric(float64(d.Nanoseconds())/float64(ops), name+"-cpu-ns/"+op)
		}
	}
}

// profileCPUByLabel sums the CPU time of a gzipped pprof CPU profile's
// samples by their label set.
func profileCPUByLabel(r io.Reader) (map[string]time.Duration, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	p, err := parseProfile(raw)
	if err != nil {
		return nil, err
	}
	return p.cpuByLabel()
}

// profileData is the part of a profile.proto message the suite reads.
type profileData struct {
	sampleTypes []int64 // string index of each value's type
	samples     []profileSample
	strs        []string
}

type profileSample struct {
	values []int64
	labels []int64 // key, str: string indexes, pairwise
}

// cpuByLabel sums the "cpu" value of every sample by labelKey.
func (p *profileData) cpuByLabel() (map[string]time.Duration, error) {
	str := func(i int64) string {
		if i < 0 || i >= int64(len(p.strs)) {
			return ""
		}
		return p.strs[i]
	}
	cpu := slices.IndexFunc(p.sampleTypes, func(t int64) bool { return str(t) == "cpu" })
	if cpu < 0 {
		return nil, errors.New("no cpu sample type")
	}
	out := make(map[string]time.Duration)
	for _, s := range p.samples {
		if cpu >= len(s.values) {
			return nil, errors.New("sample without a cpu value")
		}
		var kv []string
		for i := 0; i+1 < len(s.labels); i += 2 {
			kv = append(kv, str(s.labels[i]), str(s.labels[i+1]))
		}
		out[labelKey(kv...)] += time.Duration(s.values[cpu])
	}
	return out, nil
}

// TestCPUMeterSplitsByLabel runs two labelled goroutines that spin until
// the process has used 400 ms more CPU: the profile must attribute CPU to
// each label and the process time must cover at least that much.
func TestCPUMeterSplitsByLabel(t *testing.T) {
	m, err := startCPUMeter()
	if err != nil {
		t.Fatal(err)
	}
	if m.prof == nil {
		t.Fatal("a CPU profile is already running")
	}
	start, err := processCPU()
	if err != nil {
		t.Fatal(err)
	}
	const burn = 400 * time.Millisecond
	var wg sync.WaitGroup
	for _, side := range []string{sideSend, sideRecv} {
		withLabels(labelsCtx(labelSide, side), func() {
			wg.Go(func() { spinUntilCPU(start + burn) })
		})
	}
	wg.Wait()
	u, err := m.stop()
	if err != nil {
		t.Fatal(err)
	}
	if u.process < burn {
		t.Errorf("process CPU %v, want at least %v", u.process, burn)
	}
	for _, side := range []string{sideSend, sideRecv} {
		if d, ok := u.labelled(labelSide, side); !ok || d <= 0 {
			t.Errorf("side %s: profiled CPU %v (profiled %v), want some", side, d, ok)
		}
	}
}

// spinUntilCPU burns CPU until the process has used until.
func spinUntilCPU(until time.Duration) {
	for {
		if t, err := processCPU(); err != nil || t >= until {
			return
		}
	}
}
