package probing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Errors returned by a Prober. ErrNotFound and ErrExist have the same text as
// in xiang90/probing.
var (
	// ErrNotFound is returned for an id that is not being probed.
	ErrNotFound = errors.New("probing: id not found")
	// ErrExist is returned by AddHTTP for an id that is already being probed.
	ErrExist = errors.New("probing: id exists")
	// ErrNoEndpoints is returned by AddHTTP when given no endpoints.
	ErrNoEndpoints = errors.New("probing: no endpoints")
	// ErrInvalidInterval is returned by AddHTTP for an interval that is not
	// positive.
	ErrInvalidInterval = errors.New("probing: interval must be positive")
)

// Prober probes a set of ids, each with its own loop, interval and endpoints.
// All methods are safe for concurrent use.
type Prober interface {
	// AddHTTP starts probing id every probingInterval, sending a GET to one of
	// endpoints at a time and moving to the next one after each failure. It
	// returns ErrExist if id is already probed, ErrNoEndpoints if endpoints
	// is empty, ErrInvalidInterval if probingInterval is not positive, and a
	// wrapped error if an endpoint is not a valid URL. The endpoints slice is
	// copied.
	AddHTTP(id string, probingInterval time.Duration, endpoints []string) error
	// Remove stops probing id, cancelling any probe in flight, and waits for
	// its loop to exit; StopNotify of its Status is closed by then. It returns
	// ErrNotFound if id is not probed.
	Remove(id string) error
	// RemoveAll removes every id as Remove does. The Prober stays usable.
	RemoveAll()
	// Reset clears the measurements of id. It returns ErrNotFound if id is
	// not probed.
	Reset(id string) error
	// Status returns the live Status of id, or ErrNotFound if id is not
	// probed.
	Status(id string) (Status, error)
}

// NewProber returns a Prober that sends its probes through tr. A nil tr means
// http.DefaultTransport. A Prober starts empty; call RemoveAll to stop every
// goroutine it owns.
func NewProber(tr http.RoundTripper) Prober {
	if tr == nil {
		tr = http.DefaultTransport
	}
	p := &prober{tr: tr}
	p.mu.targets = make(map[string]*target)
	return p
}

// prober implements Prober.
type prober struct {
	// Immutable:
	tr http.RoundTripper

	mu struct {
		sync.Mutex
		// Guarded by mu:
		targets map[string]*target
	}
}

var _ Prober = (*prober)(nil)

// AddHTTP implements Prober.
func (p *prober) AddHTTP(id string, probingInterval time.Duration, endpoints []string) error {
	if err := validate(probingInterval, endpoints); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.mu.targets[id]; ok {
		return ErrExist
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := newTarget(p.tr, probingInterval, endpoints, cancel)
	p.mu.targets[id] = t
	go t.run(ctx) // owned: Remove and RemoveAll stop it and wait for it
	return nil
}

// validate checks the arguments of AddHTTP.
func validate(interval time.Duration, endpoints []string) error {
	if interval <= 0 {
		return ErrInvalidInterval
	}
	if len(endpoints) == 0 {
		return ErrNoEndpoints
	}
	for _, ep := range endpoints {
		if _, err := http.NewRequest(http.MethodGet, ep, nil); err != nil {
			return fmt.Errorf("probing: invalid endpoint %q: %w", ep, err)
		}
	}
	return nil
}

// Remove implements Prober.
func (p *prober) Remove(id string) error {
	p.mu.Lock()
	t, ok := p.mu.targets[id]
	delete(p.mu.targets, id)
	p.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	t.stop()
	return nil
}

// RemoveAll implements Prober. It cancels every loop before waiting for any,
// so the wait is bounded by the slowest loop rather than the sum.
func (p *prober) RemoveAll() {
	p.mu.Lock()
	targets := p.mu.targets
	p.mu.targets = make(map[string]*target)
	p.mu.Unlock()
	for _, t := range targets {
		t.cancel()
	}
	for _, t := range targets {
		t.stop()
	}
}

// Reset implements Prober.
func (p *prober) Reset(id string) error {
	t, err := p.lookup(id)
	if err != nil {
		return err
	}
	t.status.reset()
	return nil
}

// Status implements Prober.
func (p *prober) Status(id string) (Status, error) {
	t, err := p.lookup(id)
	if err != nil {
		return nil, err
	}
	return t.status, nil
}

// lookup returns the target probing id.
func (p *prober) lookup(id string) (*target, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.mu.targets[id]
	if !ok {
		return nil, ErrNotFound
	}
	return t, nil
}
