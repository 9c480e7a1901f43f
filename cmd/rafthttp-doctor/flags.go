package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/rafthttp/rafthttp/internal/doctor"
)

// options are the parsed command line.
type options struct {
	cfg    doctor.Config
	output string
	watch  bool
	wopts  doctor.WatchOptions
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var fromID string
	fs := flag.NewFlagSet("rafthttp-doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs) }
	fs.BoolVar(&o.cfg.Discover, "discover", false, "also check the peer URLs listed by the first peer's /members (etcd only)")
	fs.StringVar(&o.cfg.CACert, "cacert", "", "verify peer certificates with this CA bundle (PEM) instead of the system roots")
	fs.StringVar(&o.cfg.Cert, "cert", "", "client certificate (PEM) to present to peers that ask for one")
	fs.StringVar(&o.cfg.Key, "key", "", "private key (PEM) of --cert")
	fs.BoolVar(&o.cfg.InsecureSkipVerify, "insecure-skip-tls-verify", false, "report certificates without judging their verification")
	fs.StringVar(&o.cfg.ServerName, "server-name", "", "name to verify peer certificates against instead of the URL's host")
	fs.IntVar(&o.cfg.Probes, "probes", 10, "round trips to /raft/probing per peer")
	fs.DurationVar(&o.cfg.Timeout, "timeout", 5*time.Second, "bound on each connect and each request")
	fs.DurationVar(&o.cfg.MaxRTT, "max-rtt", 100*time.Millisecond, "p99 round-trip time above which a peer is reported slow (etcd's default heartbeat interval)")
	fs.StringVar(&fromID, "from-id", strconv.FormatUint(doctor.DefaultFromID, 16), "sender ID (hex) of the stream handshake probe; must not be a member")
	fs.StringVar(&o.output, "o", "table", "output: table or json")
	fs.BoolVar(&o.watch, "watch", false, "re-probe every --interval and print RTT and clock drift over time (Ctrl-C stops)")
	fs.DurationVar(&o.wopts.Interval, "interval", 2*time.Second, "time between --watch rounds")
	fs.IntVar(&o.wopts.Rounds, "rounds", 0, "stop --watch after this many rounds (0: never)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, a := range fs.Args() {
		o.cfg.Peers = append(o.cfg.Peers, strings.Split(a, ",")...)
	}
	id, err := strconv.ParseUint(fromID, 16, 64)
	if err != nil || id == 0 {
		return o, fmt.Errorf("--from-id %q: want a non-zero hex ID", fromID)
	}
	o.cfg.FromID = id
	if o.output != "table" && o.output != "json" {
		return o, fmt.Errorf("-o %q: want table or json", o.output)
	}
	o.wopts.JSON = o.output == "json"
	if len(o.cfg.Peers) == 0 {
		return o, fmt.Errorf("no peer URLs given")
	}
	return o, nil
}

func usage(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), `usage: rafthttp-doctor [flags] PEER_URL...

Checks each etcd or rafthttp peer URL (port 2380 on etcd) from the outside:
TCP, TLS, versions, cluster ID, /raft/probing RTT and clock drift, and the
stream handshake up to the member check. It never joins the cluster.
Exit code: 0 all peers OK, 1 warnings only, 2 a check failed, 3 bad usage.

flags:
`)
	fs.PrintDefaults()
}
