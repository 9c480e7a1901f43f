package main

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Implementation names the suite uses in `impl=` elements.
const (
	implEtcd   = "etcd"
	implOurs   = "ours"
	implRawTCP = "rawtcp"
)

// caseKey names a benchmark case without its implementation: the family
// (BenchmarkMsgApp → MsgApp) and the remaining name elements.
type caseKey struct {
	family string
	params string // e.g. "size=64B"; "" if none
}

func (k caseKey) String() string {
	if k.params == "" {
		return k.family
	}
	return k.family + " " + strings.ReplaceAll(k.params, "/", " ")
}

// runs holds every value of every unit of one benchmark, one per run.
type runs map[string][]float64

// resultSet is everything read from the input.
type resultSet struct {
	order []caseKey                   // cases in order of first appearance
	cases map[caseKey]map[string]runs // case → impl ("" if none) → runs
}

// trimProcs drops the -GOMAXPROCS suffix go test appends to names.
func trimProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || i == len(name)-1 || strings.Trim(name[i+1:], "0123456789") != "" {
		return name
	}
	return name[:i]
}

// parse reads benchmark result lines and ignores everything else.
func parse(r io.Reader) (*resultSet, error) {
	set := &resultSet{cases: make(map[caseKey]map[string]runs)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		set.addLine(sc.Text())
	}
	return set, sc.Err()
}

// addLine records one "BenchmarkName-2  N  v unit  v unit ..." line.
func (s *resultSet) addLine(line string) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return
	}
	key, impl := splitName(trimProcs(f[0]))
	byImpl, ok := s.cases[key]
	if !ok {
		byImpl = make(map[string]runs)
		s.cases[key] = byImpl
		s.order = append(s.order, key)
	}
	rs, ok := byImpl[impl]
	if !ok {
		rs = make(runs)
		byImpl[impl] = rs
	}
	vals := make(map[string]float64)
	for i := 2; i+1 < len(f); i += 2 {
		if v, err := strconv.ParseFloat(f[i], 64); err == nil {
			vals[f[i+1]] = v
		}
	}
	if _, ok := vals["msgs/s"]; !ok && vals["ns/op"] > 0 {
		vals["msgs/s"] = 1e9 / vals["ns/op"]
	}
	for unit, v := range vals {
		rs[unit] = append(rs[unit], v)
	}
}

// splitName separates the impl= element from the rest of a name.
func splitName(name string) (caseKey, string) {
	parts := strings.Split(strings.TrimPrefix(name, "Benchmark"), "/")
	key := caseKey{family: parts[0]}
	var impl string
	var rest []string
	for _, p := range parts[1:] {
		if v, ok := strings.CutPrefix(p, "impl="); ok {
			impl = v
		} else {
			rest = append(rest, p)
		}
	}
	key.params = strings.Join(rest, "/")
	return key, impl
}

// median returns the median of vs and whether there was any value.
func median(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}
