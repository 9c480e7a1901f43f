package rafthttp

import (
	"net/url"
	"sync"

	"github.com/rafthttp/rafthttp/types"
)

// urlPicker chooses which of a peer's URLs to use. The choice is sticky: it
// moves to the next URL only when the current one is reported unreachable,
// so all of a peer's channels converge on one working address.
type urlPicker struct {
	mu     sync.Mutex
	urls   types.URLs
	picked int
}

func newURLPicker(urls types.URLs) *urlPicker {
	return &urlPicker{urls: urls}
}

// update replaces the URLs and starts again from the first.
func (p *urlPicker) update(urls types.URLs) {
	p.mu.Lock()
	p.urls, p.picked = urls, 0
	p.mu.Unlock()
}

// pick returns the current URL. The returned value is a copy the caller
// may modify.
func (p *urlPicker) pick() (u url.URL) {
	p.mu.Lock()
	if len(p.urls) > 0 {
		u = p.urls[p.picked]
	}
	p.mu.Unlock()
	return u
}

// unreachable moves on from u if u is still the current choice. Failures
// reported late for a URL already left behind do not move the picker again.
func (p *urlPicker) unreachable(u url.URL) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.urls) == 0 || u != p.urls[p.picked] {
		return
	}
	p.picked = (p.picked + 1) % len(p.urls)
}
