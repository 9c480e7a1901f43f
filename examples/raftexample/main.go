// Command raftexample runs one member of a replicated key-value store built
// on go.etcd.io/raft/v3 and the rafthttp Transport. See README.md.
//
//	raftexample --id 1 --cluster http://127.0.0.1:12379,http://127.0.0.1:22379,http://127.0.0.1:32379 --port 12380
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rafthttp/rafthttp/examples/raftexample/kv"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the command-line flags.
type options struct {
	id            uint64
	cluster       string
	port          int
	join          bool
	dataDir       string
	snapshotCount uint64
	logLevel      string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("raftexample", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&o.id, "id", 1, "this member's ID; its peer URL is the id-th entry of --cluster")
	fs.StringVar(&o.cluster, "cluster", "http://127.0.0.1:12379", "comma-separated peer URLs of the members, member i at position i")
	fs.IntVar(&o.port, "port", 12380, "client API port (on the host of this member's peer URL)")
	fs.BoolVar(&o.join, "join", false, "join an existing cluster (after POST /<id> to a member) instead of bootstrapping one")
	fs.StringVar(&o.dataDir, "data-dir", "", "where the log and snapshots live (default <temp dir>/raftexample-<id>)")
	fs.Uint64Var(&o.snapshotCount, "snapshot-count", kv.DefaultSnapshotCount, "applied entries between snapshots")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.port < 1 || o.port > 65535 {
		return o, fmt.Errorf("--port %d: want 1-65535", o.port)
	}
	if o.dataDir == "" {
		o.dataDir = filepath.Join(os.TempDir(), fmt.Sprintf("raftexample-%d", o.id))
	}
	return o, nil
}

// config turns the flags into a kv.Config.
func (o options) config(lg *zap.Logger) (kv.Config, error) {
	peers := strings.Split(o.cluster, ",")
	if o.id == 0 || o.id > uint64(len(peers)) {
		return kv.Config{}, fmt.Errorf("--id %d: --cluster lists %d members", o.id, len(peers))
	}
	u, err := url.Parse(peers[o.id-1])
	if err != nil {
		return kv.Config{}, fmt.Errorf("--cluster: %w", err)
	}
	return kv.Config{
		ID: o.id, Peers: peers, Join: o.join, DataDir: o.dataDir,
		ClientAddr:    net.JoinHostPort(u.Hostname(), strconv.Itoa(o.port)),
		SnapshotCount: o.snapshotCount, Logger: lg,
	}, nil
}

func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	return cfg.Build()
}

// run starts the member and serves until SIGINT or SIGTERM, or until the
// member stops on its own (removed from the cluster, storage failure).
func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "raftexample:", err)
		return 2
	}
	lg, err := newLogger(o.logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "raftexample:", err)
		return 2
	}
	defer func() { _ = lg.Sync() }()
	cfg, err := o.config(lg)
	if err != nil {
		fmt.Fprintln(stderr, "raftexample:", err)
		return 2
	}
	node, err := kv.Start(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "raftexample:", err)
		return 1
	}
	fmt.Fprintf(stderr, "raftexample: member %d serving clients on http://%s, peers on %s, data in %s\n",
		o.id, node.ClientAddr(), cfg.Peers[o.id-1], o.dataDir)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case <-node.Done():
	}
	err = node.Stop()
	switch {
	case errors.Is(err, kv.ErrRemoved):
		fmt.Fprintf(stderr, "raftexample: member %d was removed from the cluster\n", o.id)
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "raftexample:", err)
		return 1
	}
	fmt.Fprintf(stderr, "raftexample: member %d stopped\n", o.id)
	return 0
}
