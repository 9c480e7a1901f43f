package rafthttp

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/types"
)

// Member identity: with Transport.VerifyPeerIdentity set, every member ID a
// request claims (X-Server-From, the stream path, the From of the message
// it carries) must be one its TLS client certificate is accepted for, and
// the server of a stream we dial must be accepted for the member we meant
// to reach (X-Raft-To). etcd checks none of this (etcd issue 22026): any
// certificate the CA signed can speak for any member.

// ErrPeerIdentity is returned by VerifyMemberURI, and by stream dials whose
// server certificate does not name the member dialled.
var ErrPeerIdentity = errors.New("rafthttp: peer certificate does not name the member")

// memberURIScheme and memberURIHost make up the URI SAN convention of
// MemberURI.
const (
	memberURIScheme = "rafthttp"
	memberURIHost   = "member"
)

// identityRejectedBody is the reply to a request that failed the identity
// check. It names no reason; the log does.
const identityRejectedBody = "rafthttp: peer identity not verified"

// MemberURI returns the URI that names member id in a certificate's URI
// SANs under the convention VerifyMemberURI checks:
// rafthttp://member/<id in lower-case hex>, e.g. rafthttp://member/8e9e05c52164694d.
// Put it in x509.Certificate.URIs when issuing a member's peer certificate.
func MemberURI(id types.ID) *url.URL {
	return &url.URL{Scheme: memberURIScheme, Host: memberURIHost, Path: "/" + id.String()}
}

// VerifyMemberURI is a ready-made Transport.VerifyPeerIdentity: it accepts
// cert for id when one of its URI SANs is MemberURI(id). Hex digits may be
// in either case and have leading zeros; nothing else may differ (no user,
// port, query or fragment).
func VerifyMemberURI(id types.ID, cert *x509.Certificate) error {
	for _, u := range cert.URIs {
		if got, ok := memberIDFromURI(u); ok && got == id {
			return nil
		}
	}
	return ErrPeerIdentity
}

// memberIDFromURI parses a URI written by MemberURI.
func memberIDFromURI(u *url.URL) (types.ID, bool) {
	if u == nil || u.Scheme != memberURIScheme || u.Host != memberURIHost || u.User != nil ||
		u.Opaque != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return 0, false
	}
	hex, ok := strings.CutPrefix(u.Path, "/")
	if !ok {
		return 0, false
	}
	id, err := types.IDFromString(hex)
	return id, err == nil
}

// Endpoints named in etcd_network_peer_identity_rejections_total.
const (
	endpointPipeline   = "pipeline"
	endpointStream     = "stream"
	endpointSnapshot   = "snapshot"
	endpointStreamDial = "stream-dial"
)

// verifyIdentity checks that the request's TLS client certificate is
// accepted for every id. It returns nil when no check is configured.
func (g *guard) verifyIdentity(r *http.Request, ids ...types.ID) error {
	if g.verify == nil {
		return nil
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return errors.New("rafthttp: request has no TLS client certificate")
	}
	for _, id := range ids {
		if err := g.verify(id, r.TLS.PeerCertificates[0]); err != nil {
			return err
		}
	}
	return nil
}

// rejectIdentity answers 403, logs why and counts the rejection.
func (e *env) rejectIdentity(w http.ResponseWriter, r *http.Request, endpoint string, claimed string, err error) {
	e.lg.Warn("rejected request; peer identity not verified", zap.String("endpoint", endpoint),
		zap.String("claimed-member-id", claimed), zap.String("remote-addr", r.RemoteAddr), zap.Error(err))
	e.guard.identityRejections.WithLabelValues(endpoint).Inc()
	http.Error(w, identityRejectedBody, http.StatusForbidden)
}

// verifySender checks the X-Server-From header of a POST against the
// client certificate. It returns the verified ID (0 when no check is
// configured), or false after answering 403.
func (e *env) verifySender(w http.ResponseWriter, r *http.Request, endpoint string) (types.ID, bool) {
	if e.guard.verify == nil {
		return 0, true
	}
	claimed := r.Header.Get(hdrServerFrom)
	from, err := types.IDFromString(claimed)
	if err == nil {
		err = e.guard.verifyIdentity(r, from)
	}
	if err != nil {
		e.rejectIdentity(w, r, endpoint, claimed, err)
		return 0, false
	}
	return from, true
}

// checkMessageSender rejects a message whose From differs from the
// verified sender; verified is 0 when no check is configured.
func (e *env) checkMessageSender(w http.ResponseWriter, r *http.Request, endpoint string, verified, from types.ID) bool {
	if verified == 0 || verified == from {
		return true
	}
	e.rejectIdentity(w, r, endpoint, from.String(),
		errors.New("rafthttp: message From differs from the verified sender"))
	return false
}

// identityRoundTripper checks, after a stream dial, that the server's
// certificate is accepted for the member named in X-Raft-To. Requests
// without that header (probes) pass unchecked.
type identityRoundTripper struct {
	rt         http.RoundTripper
	verify     func(types.ID, *x509.Certificate) error
	rejections *prometheus.CounterVec
}

// RoundTrip sends req and vets the answering server.
func (t *identityRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	to := req.Header.Get(hdrRaftTo)
	resp, err := t.rt.RoundTrip(req)
	if err != nil || to == "" {
		return resp, err
	}
	if err := t.check(to, resp); err != nil {
		resp.Body.Close()
		t.rejections.WithLabelValues(endpointStreamDial).Inc()
		return nil, err
	}
	return resp, nil
}

func (t *identityRoundTripper) check(to string, resp *http.Response) error {
	id, err := types.IDFromString(to)
	if err != nil {
		return err
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return errors.New("rafthttp: stream server presented no TLS certificate")
	}
	if err := t.verify(id, resp.TLS.PeerCertificates[0]); err != nil {
		if !errors.Is(err, ErrPeerIdentity) {
			err = fmt.Errorf("%w: %w", ErrPeerIdentity, err)
		}
		return fmt.Errorf("stream server for member %s: %w", id, err)
	}
	return nil
}

// CloseIdleConnections passes the call on, so Transport.Stop reaches the
// wrapped round tripper.
func (t *identityRoundTripper) CloseIdleConnections() { closeIdle(t.rt) }
