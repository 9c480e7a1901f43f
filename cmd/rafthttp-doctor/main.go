// Command rafthttp-doctor diagnoses the peer network of an etcd (or
// rafthttp) cluster from the outside, without joining it. See README.md.
//
//	rafthttp-doctor [flags] PEER_URL...
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
