package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/rafthttp/rafthttp/examples/raftexample/cluster"
	"github.com/rafthttp/rafthttp/examples/raftexample/kv"
)

// The scenario's sizes. With a snapshot every 1,000 entries and half of
// that kept in memory, 5,000 writes compact the log well past the point
// where member 3 stopped, so it can only catch up through a snapshot.
const (
	firstKeys     = 1000
	moreKeys      = 5000
	snapshotCount = 1000
	sampleKeys    = 100
	writers       = 32
	valueBytes    = 100
)

// demo is the scenario's state.
type demo struct {
	out io.Writer
	dir string
	c   *cluster.Cluster
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

// step runs fn, failing it if it takes longer than limit, and returns how
// long it took.
func step(ctx context.Context, limit time.Duration, fn func(context.Context) error) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	err := fn(ctx)
	return time.Since(start), err
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

func key(i int) string { return fmt.Sprintf("key-%05d", i) }

func keys(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, key(i))
	}
	return out
}

// value is what the demo writes to k: recognisable and valueBytes long.
func value(k string) []byte {
	v := "value-of-" + k + "-"
	return []byte(v + strings.Repeat(".", max(0, valueBytes-len(v))))
}

func (d *demo) run(ctx context.Context) error {
	for _, s := range []func(context.Context) error{
		d.start, d.writeAndRead, d.killAndWrite, d.restartAndCatchUp, d.checkAgreement,
	} {
		if err := s(ctx); err != nil {
			return err
		}
	}
	return nil
}

// start builds the binary and starts three members.
func (d *demo) start(ctx context.Context) error {
	var bin string
	took, err := step(ctx, 2*time.Minute, func(ctx context.Context) (err error) {
		bin, err = cluster.Build(ctx, d.dir)
		return err
	})
	if err != nil {
		return err
	}
	d.say("built raftexample (%s)", secs(took))
	if d.c, err = cluster.New(cluster.Options{Binary: bin, Dir: d.dir, Size: 3, SnapshotCount: snapshotCount}); err != nil {
		return err
	}
	for id := uint64(1); id <= 3; id++ {
		if err := d.c.Start(id); err != nil {
			return err
		}
	}
	d.say("started 3 members on 127.0.0.1 (clients: %s %s %s)",
		d.c.Client(1).URL(), d.c.Client(2).URL(), d.c.Client(3).URL())
	var leader uint64
	took, err = step(ctx, 15*time.Second, func(ctx context.Context) (err error) {
		leader, err = d.c.WaitLeader(ctx, 1, 2, 3)
		return err
	})
	if err != nil {
		return fmt.Errorf("electing a leader: %w", err)
	}
	d.say("leader elected: member %d (%s)", leader, secs(took))
	return nil
}

// writeAndRead writes through member 1 and reads back through 2 and 3.
func (d *demo) writeAndRead(ctx context.Context) error {
	took, err := step(ctx, 30*time.Second, func(ctx context.Context) error {
		return cluster.PutAll(ctx, d.c.Client(1), keys(0, firstKeys), value, writers)
	})
	if err != nil {
		return err
	}
	d.say("wrote %d keys via member 1 (%s, %.0f writes/s)", firstKeys, secs(took), firstKeys/took.Seconds())
	ss, err := d.c.Statuses(ctx, 1)
	if err != nil {
		return err
	}
	if _, err := d.c.WaitConverged(ctx, ss[0].AppliedIndex, 1, 2, 3); err != nil {
		return err
	}
	for _, id := range []uint64{2, 3} {
		n, err := d.countMatching(ctx, id, keys(0, firstKeys))
		if err != nil {
			return err
		}
		if n != firstKeys {
			return fmt.Errorf("member %d returned %d/%d keys", id, n, firstKeys)
		}
	}
	d.say("read back %d/%d keys via member 2 and via member 3", firstKeys, firstKeys)
	return nil
}

// countMatching returns how many of ks member id returns with the value
// the demo wrote.
func (d *demo) countMatching(ctx context.Context, id uint64, ks []string) (int, error) {
	cl := d.c.Client(id)
	n := 0
	for _, k := range ks {
		v, found, err := cl.Get(ctx, k)
		if err != nil {
			return n, fmt.Errorf("reading %q from member %d: %w", k, id, err)
		}
		if found && string(v) == string(value(k)) {
			n++
		}
	}
	return n, nil
}

// killAndWrite kills member 3 and writes enough to compact the log past
// it.
func (d *demo) killAndWrite(ctx context.Context) error {
	ss, err := d.c.Statuses(ctx, 3)
	if err != nil {
		return err
	}
	if err := d.c.Kill(3); err != nil {
		return err
	}
	d.say("killed member 3 (SIGKILL) at applied index %d", ss[0].AppliedIndex)
	took, err := step(ctx, time.Minute, func(ctx context.Context) error {
		return cluster.PutAll(ctx, d.c.Client(1), keys(firstKeys, firstKeys+moreKeys), value, writers)
	})
	if err != nil {
		return err
	}
	leader, err := d.c.WaitLeader(ctx, 1, 2)
	if err != nil {
		return err
	}
	ls, err := d.c.Statuses(ctx, leader)
	if err != nil {
		return err
	}
	compacted := ls[0].FirstIndex - 1
	d.say("wrote %d more keys via member 1 (%s); leader's log compacted up to index %d", moreKeys, secs(took), compacted)
	if compacted <= ss[0].AppliedIndex {
		return fmt.Errorf("log compacted only to %d; member 3 stopped at %d and needs no snapshot", compacted, ss[0].AppliedIndex)
	}
	return nil
}

// restartAndCatchUp restarts member 3 and waits until it has caught up
// through a snapshot.
func (d *demo) restartAndCatchUp(ctx context.Context) error {
	ls, err := d.c.Statuses(ctx, 1)
	if err != nil {
		return err
	}
	target := ls[0].AppliedIndex
	if err := d.c.Start(3); err != nil {
		return err
	}
	var s kv.Status
	took, err := step(ctx, 30*time.Second, func(ctx context.Context) error {
		ss, err := d.c.WaitFor(ctx, []uint64{3}, func(ss []kv.Status) bool {
			return ss[0].AppliedIndex >= target && ss[0].Snapshots.Received > 0
		})
		if len(ss) > 0 {
			s = ss[0]
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("member 3 catching up: %w", err)
	}
	d.say("member 3 restarted; caught up via a %.0f kB snapshot (index %d) streamed by the leader, in %s",
		float64(s.Snapshots.LastReceivedBytes)/1000, s.Snapshots.LastReceivedIndex, took.Round(time.Millisecond))
	return nil
}

// checkAgreement compares a random sample of keys on all three members.
func (d *demo) checkAgreement(ctx context.Context) error {
	ls, err := d.c.Statuses(ctx, 1)
	if err != nil {
		return err
	}
	if _, err := d.c.WaitConverged(ctx, ls[0].AppliedIndex, 1, 2, 3); err != nil {
		return err
	}
	sample := make([]string, sampleKeys)
	for i := range sample {
		sample[i] = key(rand.IntN(firstKeys + moreKeys))
	}
	for id := uint64(1); id <= 3; id++ {
		n, err := d.countMatching(ctx, id, sample)
		if err != nil {
			return err
		}
		if n != sampleKeys {
			return fmt.Errorf("member %d agrees on only %d/%d sampled keys", id, n, sampleKeys)
		}
	}
	d.say("all 3 members agree on %d sampled keys", sampleKeys)
	return nil
}

// close stops the members, reporting any that could not be stopped.
func (d *demo) close() error {
	if d.c == nil {
		return nil
	}
	return d.c.Close()
}

// printLogs shows the end of each member's log after a failure.
func (d *demo) printLogs() {
	if d.c == nil {
		return
	}
	for id := uint64(1); id <= 3; id++ {
		if tail := d.c.LogTail(id, 10); tail != "" {
			d.say("--- member %d log (last lines) ---\n%s", id, tail)
		}
	}
}
