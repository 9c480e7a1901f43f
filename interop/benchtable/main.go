// Command benchtable turns the output of the interop performance suite
// (`go test -bench`, any -count) into one Markdown table comparing etcd's
// Transport with ours, case by case:
//
//	case | etcd | ours | ours/etcd | ours % of raw TCP
//
// Each cell is the median of the runs of that benchmark. Benchmarks pair
// up by name: the `impl=` element names the implementation and the rest
// names the case, so BenchmarkMsgApp/size=64B/impl=etcd and .../impl=ours
// share a row. The raw TCP column divides ours by BenchmarkRawTCP with the
// same parameters (but for perSend=, how many messages each Send call
// carried, which raw TCP does not have), or by impl=rawtcp of the same
// case. Benchmarks without
// an etcd/ours pair (the baselines) go to a second table.
//
// Usage:
//
//	go test -run '^$' -bench . -count 3 | tee bench.out
//	go run ./benchtable bench.out   # or: go run ./benchtable < bench.out
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

func main() {
	in, err := openInputs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(2)
	}
	set, err := parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(set.order) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results in the input")
		os.Exit(1)
	}
	w := bufio.NewWriter(os.Stdout)
	render(w, set)
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

// openInputs concatenates the named files, or returns stdin if none.
func openInputs(names []string) (io.Reader, error) {
	if len(names) == 0 {
		return os.Stdin, nil
	}
	var rs []io.Reader
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			return nil, err
		}
		rs = append(rs, f) // closed at exit
	}
	return io.MultiReader(rs...), nil
}
