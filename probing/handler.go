package probing

import (
	"encoding/json"
	"net/http"
	"time"
)

// Health is the reply served by [NewHandler] and expected by a [Prober]. Its
// JSON form uses the field names "OK" and "Now"; Now is the responder's wall
// clock when it wrote the reply.
type Health struct {
	OK  bool
	Now time.Time
}

// NewHandler returns an http.Handler that reports the local host as healthy.
// It accepts any method and path and replies 200 with a JSON-encoded [Health]
// carrying the current time, terminated by a newline. It deliberately sets no
// Content-Type header, which keeps the reply byte-compatible with etcd.
func NewHandler() http.Handler {
	return healthHandler{now: time.Now}
}

// NewHandlerWithClock is [NewHandler] with the reply's Now read from now
// instead of time.Now. It exists for tests that need a peer whose clock is
// off, such as a clock-drift check; a nil now means time.Now.
func NewHandlerWithClock(now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return healthHandler{now: now}
}

// healthHandler implements the handlers returned by NewHandler and
// NewHandlerWithClock.
type healthHandler struct {
	now func() time.Time
}

// ServeHTTP writes the health reply. An encoding error can only come from a
// failed write, meaning the client is gone, so there is no one to report it to.
func (h healthHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	_ = json.NewEncoder(w).Encode(Health{OK: true, Now: h.now()})
}
