package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// metric is one row of a case: the unit compared and how to show it.
type metric struct {
	label string // appended to the case name; "" for the main figure
	unit  string // the unit compared across implementations
	also  string // a unit shown in the same cell, e.g. MB/s next to msgs/s
	parts []part // parts of the figure shown after it in the same cell
	lower bool   // lower is better
	raw   bool   // compare with the raw TCP baseline
}

// part is a share of a row's figure, e.g. the sender's CPU time.
type part struct{ name, unit string }

// throughput is the main row of a streaming case.
func throughput() metric { return metric{unit: "msgs/s", also: "MB/s", raw: true} }

// msgCPU is the process's CPU time per message, with the profiled shares
// of the sending and the receiving member.
func msgCPU() metric {
	return metric{label: "CPU/msg", unit: "cpu-ns/msg", lower: true,
		parts: []part{{"send", "send-cpu-ns/msg"}, {"recv", "recv-cpu-ns/msg"}}}
}

// familyMetrics lists the rows of each paired benchmark family.
func familyMetrics() map[string][]metric {
	return map[string][]metric{
		"MsgApp":      {throughput(), {label: "allocs/msg", unit: "allocs/msg", lower: true}, msgCPU()},
		"MsgAppBatch": {throughput(), {label: "allocs/msg", unit: "allocs/msg", lower: true}, msgCPU()},
		"RaftCluster": {
			{unit: "commits/s"},
			{label: "p50 Propose→apply", unit: "p50-ns", lower: true},
			{label: "p99 Propose→apply", unit: "p99-ns", lower: true},
			{label: "CPU/commit", unit: "cpu-ns/op", lower: true,
				parts: []part{{"raft", "raft-cpu-ns/op"}, {"Step", "step-cpu-ns/op"}, {"transports", "transport-cpu-ns/op"}}},
		},
		"HeartbeatUnderLoad": {
			{label: "p50 RTT", unit: "p50-ns", lower: true},
			{label: "p99 RTT", unit: "p99-ns", lower: true},
		},
		"Snapshot": {
			{unit: "MB/s", raw: true},
			{label: "peak heap growth", unit: "peak-heap-MiB", lower: true},
		},
		"SnapshotFlakyLink": {
			{label: "time to complete", unit: "ns/op", lower: true},
			{label: "on the wire", unit: "wire/DB", lower: true},
			{label: "attempts", unit: "attempts", lower: true},
		},
		"IdlePeers": {
			{label: "memory/peer", unit: "B/peer", lower: true},
			{label: "goroutines/peer", unit: "goroutines/peer", lower: true},
		},
	}
}

// baselineMetrics lists what the one-implementation table shows.
func baselineMetrics() map[string][]metric {
	return map[string][]metric{
		"RawTCP":      {throughput()},
		"MsgAppBuild": {{unit: "allocs/op", also: "B/op"}},
		"Snapshot":    {{unit: "MB/s"}, {label: "peak heap growth", unit: "peak-heap-MiB"}},
	}
}

// render writes the comparison table, then the baselines.
func render(w io.Writer, s *resultSet) {
	fmt.Fprintf(w, "etcd and ours: median of %s. ours/etcd: median (and range) of the per-round ratios; "+
		"above 1 is better, except in rows marked ↓ (lower is better). %% of raw TCP: likewise, "+
		"ours over the raw baseline of the same round.\n\n", runCounts(s))
	fmt.Fprintln(w, "| case | etcd | ours | ours/etcd | ours % of raw TCP |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, k := range s.order {
		byImpl := s.cases[k]
		if byImpl[implEtcd] == nil && byImpl[implOurs] == nil {
			continue
		}
		for _, m := range metricsFor(familyMetrics(), k.family) {
			renderPairRow(w, s, k, m)
		}
	}
	var base strings.Builder
	for _, k := range s.order {
		for _, impl := range baselineImpls(s.cases[k]) {
			rs := s.cases[k][impl]
			for _, m := range metricsFor(baselineMetrics(), k.family) {
				if len(rs[m.unit]) == 0 {
					continue
				}
				name := k.String()
				if impl != "" {
					name += " (" + impl + ")"
				}
				fmt.Fprintf(&base, "| %s | %s |\n", withLabel(name, m), cell(rs, m))
			}
		}
	}
	if base.Len() > 0 {
		fmt.Fprintln(w, "\nBaselines (one implementation):")
		fmt.Fprintln(w, "\n| case | value |")
		fmt.Fprintln(w, "|---|---:|")
		fmt.Fprint(w, base.String())
	}
}

// renderPairRow writes one metric of a paired case.
func renderPairRow(w io.Writer, s *resultSet, k caseKey, m metric) {
	etcd, ours := s.cases[k][implEtcd], s.cases[k][implOurs]
	if len(etcd[m.unit]) == 0 && len(ours[m.unit]) == 0 {
		return
	}
	ratio, pct := "–", "–"
	if r, lo, hi, ok := pairedRatio(ours[m.unit], etcd[m.unit]); ok {
		ratio = ratioDigits(r) + "x"
		if hi > lo {
			ratio += fmt.Sprintf(" (%s–%s)", ratioDigits(lo), ratioDigits(hi))
		}
	}
	if m.raw {
		if r, _, _, ok := pairedRatio(ours[m.unit], s.rawFor(k)[m.unit]); ok {
			pct = fmt.Sprintf("%.0f%%", 100*r)
		}
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", withLabel(k.String(), m), cell(etcd, m), cell(ours, m), ratio, pct)
}

// pairedRatio compares a with b. Runs pair up in order — the i-th run of
// each side ran in the same round, close together in time — so with as
// many runs on both sides it returns the median and range of the per-run
// ratios a[i]/b[i], which drifting machine load affects far less than the
// ratio of two medians; otherwise the ratio of the medians.
func pairedRatio(a, b []float64) (mid, lo, hi float64, ok bool) {
	if len(a) == len(b) && len(a) > 0 {
		rs := make([]float64, 0, len(a))
		for i := range a {
			if b[i] != 0 {
				rs = append(rs, a[i]/b[i])
			}
		}
		if mid, ok := median(rs); ok {
			return mid, slices.Min(rs), slices.Max(rs), true
		}
		return 0, 0, 0, false
	}
	ma, aok := median(a)
	mb, bok := median(b)
	if !aok || !bok || mb == 0 {
		return 0, 0, 0, false
	}
	return ma / mb, ma / mb, ma / mb, true
}

// rawFor returns the raw TCP runs of a case: impl=rawtcp of the same case,
// else BenchmarkRawTCP with the same message shape. The raw baseline has
// no Send calls, so a perSend= element does not take part in the match:
// MsgApp size=64B perSend=1 and perSend=64 share RawTCP size=64B.
func (s *resultSet) rawFor(k caseKey) runs {
	if rs := s.cases[k][implRawTCP]; rs != nil {
		return rs
	}
	var shape []string
	for _, p := range strings.Split(k.params, "/") {
		if !strings.HasPrefix(p, "perSend=") {
			shape = append(shape, p)
		}
	}
	return s.cases[caseKey{family: "RawTCP", params: strings.Join(shape, "/")}][""]
}

// baselineImpls returns, sorted, the implementations of a case that are
// not etcd or ours ("" for a benchmark without impl=).
func baselineImpls(byImpl map[string]runs) []string {
	var out []string
	for impl := range byImpl {
		if impl != implEtcd && impl != implOurs {
			out = append(out, impl)
		}
	}
	slices.Sort(out)
	return out
}

// metricsFor is family's rows in table; a family the tool does not know
// gets its time per op.
func metricsFor(table map[string][]metric, family string) []metric {
	if ms, ok := table[family]; ok {
		return ms
	}
	return []metric{{unit: "ns/op", lower: true}}
}

func withLabel(name string, m metric) string {
	if m.label != "" {
		name += " " + m.label
	}
	if m.lower {
		name += " ↓"
	}
	return name
}

// cell shows the median of m's unit, and of its companion unit or parts.
func cell(rs runs, m metric) string {
	v, ok := median(rs[m.unit])
	if !ok {
		return "–"
	}
	out := format(v, m.unit)
	if a, ok := median(rs[m.also]); ok && m.also != "" {
		out += " (" + format(a, m.also) + ")"
	}
	var parts []string
	for _, p := range m.parts {
		if a, ok := median(rs[p.unit]); ok {
			parts = append(parts, p.name+" "+format(a, p.unit))
		}
	}
	if len(parts) > 0 {
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	return out
}

// format renders v in unit for a reader.
func format(v float64, unit string) string {
	switch {
	case unit == "msgs/s" || unit == "commits/s":
		return si(v) + " " + unit
	case unit == "MB/s":
		return fmt.Sprintf("%.0f MB/s", v)
	case strings.HasSuffix(unit, "-ns") || strings.Contains(unit, "-ns/") || unit == "ns/op":
		return duration(v)
	case strings.HasSuffix(unit, "-MiB"):
		return fmt.Sprintf("%.1f MiB", v)
	case strings.HasPrefix(unit, "B/"):
		return bytesIEC(v) + strings.TrimPrefix(unit, "B")
	case unit == "allocs/op" || unit == "allocs/msg":
		return trimFloat(v)
	default:
		return trimFloat(v) + " " + unit
	}
}

// ratioDigits prints a ratio with two decimals, or two significant digits
// when it is below 0.1, so that a small ratio does not read as zero.
func ratioDigits(r float64) string {
	if r != 0 && math.Abs(r) < 0.1 {
		return strconv.FormatFloat(r, 'g', 2, 64)
	}
	return fmt.Sprintf("%.2f", r)
}

func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fK", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

func bytesIEC(v float64) string {
	switch {
	case math.Abs(v) >= 1<<20:
		return fmt.Sprintf("%.2f MiB", v/(1<<20))
	case math.Abs(v) >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", v)
	}
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// runCounts describes how many runs each benchmark had.
func runCounts(s *resultSet) string {
	lo, hi := math.MaxInt, 0
	for _, byImpl := range s.cases {
		for _, rs := range byImpl {
			n := 0
			for _, vs := range rs {
				n = max(n, len(vs))
			}
			lo, hi = min(lo, n), max(hi, n)
		}
	}
	if lo == hi {
		return fmt.Sprintf("%d run(s)", hi)
	}
	return fmt.Sprintf("%d–%d runs", lo, hi)
}
