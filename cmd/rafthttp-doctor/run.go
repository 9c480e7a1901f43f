package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/rafthttp/rafthttp/internal/doctor"
)

// exitUsage is the exit code for a bad command line or unreadable input
// files; 0, 1 and 2 are doctor.ExitCode's.
const exitUsage = 3

// run is the whole command, with its streams passed in for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "rafthttp-doctor:", err)
		return exitUsage
	}
	if o.watch {
		status, err := doctor.Watch(ctx, o.cfg, o.wopts, stdout)
		if err != nil {
			fmt.Fprintln(stderr, "rafthttp-doctor:", err)
			return exitUsage
		}
		return doctor.ExitCode(&doctor.Report{Status: status})
	}
	rep, err := doctor.Run(ctx, o.cfg)
	if err != nil {
		fmt.Fprintln(stderr, "rafthttp-doctor:", err)
		return exitUsage
	}
	write := doctor.WriteTable
	if o.output == "json" {
		write = doctor.WriteJSON
	}
	if err := write(stdout, rep); err != nil {
		fmt.Fprintln(stderr, "rafthttp-doctor:", err)
		return exitUsage
	}
	return doctor.ExitCode(rep)
}
