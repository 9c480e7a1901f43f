// Command demo builds raftexample, runs a three-member cluster on loopback
// and narrates what it checks: replication, a member killed with SIGKILL,
// log compaction, catch-up through a streamed snapshot, and agreement. It
// exits 0 only if every check held, and always removes what it created.
//
//	go run ./examples/raftexample/demo
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// demoTimeout bounds the whole demo.
const demoTimeout = 3 * time.Minute

func main() {
	os.Exit(run(os.Stdout))
}

func run(out io.Writer) int {
	start := time.Now()
	sigCtx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, demoTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "raftexample-demo-")
	if err != nil {
		fmt.Fprintln(out, "demo FAILED:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	d := &demo{out: out, dir: dir}
	err = d.run(ctx)
	if cerr := d.close(); err == nil {
		err = cerr
	}
	if sigCtx.Err() != nil {
		fmt.Fprintln(out, "demo interrupted; stopped the members and removed their data")
		return 130
	}
	if err != nil {
		fmt.Fprintf(out, "demo FAILED after %.1fs: %v\n", time.Since(start).Seconds(), err)
		d.printLogs()
		return 1
	}
	fmt.Fprintf(out, "demo passed in %.1fs\n", time.Since(start).Seconds())
	return 0
}
