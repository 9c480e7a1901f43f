package probing

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

const (
	// minProbeTimeout is the shortest deadline a probe gets. A probe
	// normally gets one interval, so a slow peer never delays the next slot;
	// the floor keeps very short intervals (as used in tests) from failing
	// probes that merely hit a scheduling hiccup.
	minProbeTimeout = time.Second

	// maxReplySize bounds how much of a reply is decoded. A Health reply is
	// about 50 bytes; 4 KiB leaves room for any sane encoder while keeping a
	// confused or hostile peer from making the prober read without bound.
	maxReplySize = 4 << 10

	// maxDrainSize bounds how much is read after the reply before closing the
	// body. Draining a short tail lets net/http reuse the connection; a longer
	// tail is not worth reading, so the connection is dropped instead.
	maxDrainSize = 4 << 10
)

// probeTimeout returns the deadline of each probe for the given interval.
func probeTimeout(interval time.Duration) time.Duration {
	return max(interval, minProbeTimeout)
}

// target is the probing loop of one id.
type target struct {
	// Immutable:
	tr        http.RoundTripper
	interval  time.Duration
	endpoints []string
	status    *status
	cancel    context.CancelFunc // stops run and aborts its probe

	// Owned by the run loop:
	pinned int // index into endpoints of the one being probed
}

func newTarget(tr http.RoundTripper, interval time.Duration, endpoints []string, cancel context.CancelFunc) *target {
	return &target{
		tr:        tr,
		interval:  interval,
		endpoints: append([]string(nil), endpoints...),
		status:    newStatus(),
		cancel:    cancel,
	}
}

// run probes once per interval until ctx is cancelled, then closes
// status.stopc.
func (t *target) run(ctx context.Context) {
	defer close(t.status.stopc)
	ticker := time.NewTicker(t.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			t.probe(ctx)
		}
	}
}

// stop cancels run and waits for it to exit. It may be called more than once.
func (t *target) stop() {
	t.cancel()
	<-t.status.stopc
}

// probe sends one request to the pinned endpoint and records the outcome. A
// probe cut short because the target was removed is not recorded.
func (t *target) probe(ctx context.Context) {
	url := t.endpoints[t.pinned]
	start := time.Now()
	remote, err := t.fetch(ctx, url)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		t.status.recordFailure(err)
		t.pinned = (t.pinned + 1) % len(t.endpoints)
		return
	}
	now := time.Now()
	t.status.recordSuccess(now, now.Sub(start), remote)
}

// fetch GETs url and returns the remote time from a healthy reply.
func (t *target) fetch(ctx context.Context, url string) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout(t.interval))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("probing: GET %s: %w", url, err)
	}
	resp, err := t.tr.RoundTrip(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("probing: GET %s: %w", url, err)
	}
	defer drainAndClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		// Same text as xiang90/probing, which rafthttp users may match on.
		return time.Time{}, fmt.Errorf("got unexpected HTTP status code %s from %s", resp.Status, url)
	}
	var h Health
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReplySize)).Decode(&h); err != nil {
		return time.Time{}, fmt.Errorf("probing: decode reply from %s: %w", url, err)
	}
	if !h.OK {
		return time.Time{}, fmt.Errorf("probing: %s reported not OK", url)
	}
	return h.Now, nil
}

// drainAndClose reads a bounded tail of body so the connection can be reused,
// then closes it. Errors are irrelevant here: the reply was already judged.
func drainAndClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrainSize))
	_ = body.Close()
}
