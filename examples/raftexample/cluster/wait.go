package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/rafthttp/rafthttp/examples/raftexample/kv"
)

// Statuses returns the /status of each member in ids.
func (c *Cluster) Statuses(ctx context.Context, ids ...uint64) ([]kv.Status, error) {
	out := make([]kv.Status, len(ids))
	for i, id := range ids {
		s, err := c.Client(id).Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("member %d: %w", id, err)
		}
		out[i] = s
	}
	return out, nil
}

// WaitFor polls the members' statuses until ok accepts them or ctx ends.
func (c *Cluster) WaitFor(ctx context.Context, ids []uint64, ok func([]kv.Status) bool) ([]kv.Status, error) {
	var last error
	for {
		ss, err := c.Statuses(ctx, ids...)
		if err == nil && ok(ss) {
			return ss, nil
		}
		if err != nil {
			last = err
		}
		if err := sleep(ctx, retryInterval); err != nil {
			return ss, fmt.Errorf("waiting for members %v: %w (last error: %v, statuses: %+v)", ids, err, last, brief(ss))
		}
	}
}

// brief keeps the interesting part of statuses for error messages.
func brief(ss []kv.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("member %d: leader %d term %d applied %d", s.ID, s.Leader, s.Term, s.AppliedIndex)
	}
	return out
}

// WaitLeader waits until the members agree on a leader and returns it.
func (c *Cluster) WaitLeader(ctx context.Context, ids ...uint64) (uint64, error) {
	ss, err := c.WaitFor(ctx, ids, func(ss []kv.Status) bool {
		for _, s := range ss {
			if s.Leader == 0 || s.Leader != ss[0].Leader {
				return false
			}
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return ss[0].Leader, nil
}

// WaitConverged waits until the members have applied the same index,
// which is at least min, and returns their statuses.
func (c *Cluster) WaitConverged(ctx context.Context, minIndex uint64, ids ...uint64) ([]kv.Status, error) {
	return c.WaitFor(ctx, ids, func(ss []kv.Status) bool {
		for _, s := range ss {
			if s.AppliedIndex < minIndex || s.AppliedIndex != ss[0].AppliedIndex || s.CommitIndex != s.AppliedIndex {
				return false
			}
		}
		return true
	})
}

// PutAll writes every key through cl with the given number of concurrent
// writers, retrying while the cluster has no leader.
func PutAll(ctx context.Context, cl *Client, keys []string, value func(key string) []byte, writers int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan string)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range writers {
		wg.Go(func() {
			for k := range next {
				err := Retry(ctx, func(ctx context.Context) error { return cl.Put(ctx, k, value(k)) })
				if err != nil {
					once.Do(func() { first = fmt.Errorf("writing %q: %w", k, err); cancel() })
				}
			}
		})
	}
feed:
	for _, k := range keys {
		select {
		case next <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err() // only the caller's ctx can have ended
}
