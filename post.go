package rafthttp

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// maxResponseBody bounds how much of a peer's reply to a POST is read; the
// protocol's replies are one short line.
const maxResponseBody = 64 << 10

// responseReadTimeout bounds reading a peer's reply once its headers have
// arrived; uploading the request body may take as long as it needs.
const responseReadTimeout = 5 * time.Second

// newPostRequest builds a POST of body to path on u, with the protocol's
// headers. length is the body's size, or -1 to send it chunked.
func (e *env) newPostRequest(ctx context.Context, u url.URL, path, contentType string,
	body io.Reader, length int64) (*http.Request, error) {
	u.Path = path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("rafthttp: build request to %s: %w", u.String(), err)
	}
	req.ContentLength = length
	req.Header.Set(hdrContentType, contentType)
	e.setRequestHeaders(req.Header)
	return req, nil
}

// doPost sends req and interprets the reply. A 403 is a fatal verdict from
// the cluster and is also handed to ErrorC.
func (e *env) doPost(rt http.RoundTripper, req *http.Request, to types.ID) error {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	timer := time.AfterFunc(responseReadTimeout, func() { resp.Body.Close() })
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	timer.Stop()
	resp.Body.Close()
	if err != nil {
		return err
	}
	err = e.checkPostResponse(resp.StatusCode, body, to, req.URL)
	if err == errMemberRemoved {
		e.reportCritical(err)
	}
	return err
}

// checkPostResponse maps a peer's reply to a POST onto the protocol's
// errors; nil means the peer accepted the message.
func (e *env) checkPostResponse(code int, body []byte, to types.ID, u *url.URL) error {
	switch code {
	case http.StatusNoContent:
		return nil
	case http.StatusForbidden:
		return errMemberRemoved
	case http.StatusPreconditionFailed:
		return e.preconditionError(strings.TrimSuffix(string(body), "\n"), to)
	default:
		return fmt.Errorf("unexpected http status %s while posting to %q",
			http.StatusText(code), u.String())
	}
}

// preconditionError interprets the body of a 412 reply.
func (e *env) preconditionError(body string, to types.ID) error {
	switch body {
	case errIncompatibleVersion.Error():
		e.lg.Error("request sent was ignored by peer", zap.Stringer("remote-peer-id", to))
		return errIncompatibleVersion
	case ErrClusterIDMismatch.Error():
		e.lg.Error("request sent was ignored due to cluster ID mismatch",
			zap.Stringer("remote-peer-id", to),
			zap.Stringer("local-member-cluster-id", e.cluster))
		return ErrClusterIDMismatch
	default:
		return fmt.Errorf("unhandled error %q when precondition failed", body)
	}
}
