package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rafthttp/rafthttp/examples/raftexample/kv"
)

// HTTPError is a non-2xx answer from a member.
type HTTPError struct {
	Code int
	Body string
}

// Error reports the status code and the body.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Code, strings.TrimSpace(e.Body))
}

// Client talks to one member's client API.
type Client struct {
	base string // http://host:port
	hc   *http.Client
}

// Client returns a client for a member (running or not).
func (c *Cluster) Client(id uint64) *Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	host, port := "127.0.0.1", 0
	if m, err := c.member(id); err == nil {
		host, port = m.host, m.clientPort
	}
	return &Client{base: "http://" + net.JoinHostPort(host, strconv.Itoa(port)), hc: c.hc}
}

// URL returns the member's client URL.
func (cl *Client) URL() string { return cl.base }

// do sends a request and returns the body of a 2xx answer.
func (cl *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, cl.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := cl.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, &HTTPError{Code: resp.StatusCode, Body: string(b)}
	}
	return b, nil
}

func keyPath(key string) string { return "/" + url.PathEscape(key) }

// Put sets key to value; it returns once the write is applied.
func (cl *Client) Put(ctx context.Context, key string, value []byte) error {
	_, err := cl.do(ctx, http.MethodPut, keyPath(key), value)
	return err
}

// Get returns key's value; found is false on 404.
func (cl *Client) Get(ctx context.Context, key string) (value []byte, found bool, err error) {
	b, err := cl.do(ctx, http.MethodGet, keyPath(key), nil)
	if he, ok := errors.AsType[*HTTPError](err); ok && he.Code == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Status returns the member's /status.
func (cl *Client) Status(ctx context.Context) (kv.Status, error) {
	var s kv.Status
	b, err := cl.do(ctx, http.MethodGet, "/status", nil)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decoding /status: %w", err)
	}
	return s, nil
}

// AddMember adds member id with the given peer URL.
func (cl *Client) AddMember(ctx context.Context, id uint64, peerURL string) error {
	_, err := cl.do(ctx, http.MethodPost, "/"+strconv.FormatUint(id, 10), []byte(peerURL))
	return err
}

// RemoveMember removes member id.
func (cl *Client) RemoveMember(ctx context.Context, id uint64) error {
	_, err := cl.do(ctx, http.MethodDelete, "/"+strconv.FormatUint(id, 10), nil)
	return err
}

// retryInterval is the pause between attempts of Retry and between polls.
const retryInterval = 20 * time.Millisecond

// Retry calls fn until it succeeds, fails with an answer other than 503,
// or ctx ends. Connection errors (a member restarting) are retried.
func Retry(ctx context.Context, fn func(context.Context) error) error {
	for {
		err := fn(ctx)
		he, isHTTP := errors.AsType[*HTTPError](err)
		if err == nil || (isHTTP && he.Code != http.StatusServiceUnavailable) {
			return err
		}
		if serr := sleep(ctx, retryInterval); serr != nil {
			return fmt.Errorf("%w (last error: %w)", serr, err)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
