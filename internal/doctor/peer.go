package doctor

import (
	"context"
	"net/url"
	"strings"
	"time"
)

// peer is the working state of one peer's checks.
type peer struct {
	url *url.URL
	rep *PeerReport
	pc  *peerClient // nil until TCP (and TLS) succeeded
	// httpErr is the first HTTP failure after a good handshake, such as a
	// peer refusing to go on without a client certificate under TLS 1.3.
	httpErr   string
	probe404  bool // /raft/probing answered 404: not a raft peer port
	versionOK bool // /version was served
}

// inspect runs the checks that need nothing from other peers: TCP, TLS,
// /version and /members.
func (d *doctor) inspect(ctx context.Context, p *peer) {
	conn, tcp := connect(ctx, hostPort(p.url), d.cfg.Timeout)
	p.rep.TCP = tcp
	if conn == nil {
		return
	}
	if p.url.Scheme == "https" {
		_ = conn.SetDeadline(time.Now().Add(d.cfg.Timeout)) // a peer that never answers the hello
		tc, res := d.tls.handshakeTLS(ctx, conn, p.url.Hostname(), d.cfg.Now())
		p.rep.TLS = res
		conn.Close()
		if tc == nil {
			return
		}
	} else {
		conn.Close()
	}
	p.pc = newPeerClient(p.url, d.tls, d.cfg.Timeout)
	v, served, err := fetchVersion(ctx, p.pc)
	if err != nil {
		p.httpErr = err.Error()
		return
	}
	p.rep.Version, p.versionOK = v, served
	members, cid, err := fetchMembers(ctx, p.pc)
	if err != nil {
		p.httpErr = err.Error()
		return
	}
	p.rep.Members, p.rep.ClusterID = members, cid
	for _, m := range members {
		if hasURL(m.PeerURLs, p.url) {
			p.rep.Name, p.rep.MemberID = m.Name, m.ID
		}
	}
}

// exercise probes RTT and clock and walks the stream handshake as the
// non-member from.
func (d *doctor) exercise(ctx context.Context, p *peer, from uint64) {
	if p.pc == nil || p.httpErr != "" {
		return
	}
	p.rep.Probe = probe(ctx, p.pc, d.cfg.Probes, d.cfg.Now)
	p.probe404 = strings.Contains(p.rep.Probe.Error, "answered 404")
	if p.rep.ClusterID == "" {
		cid, server, err := learnClusterID(ctx, p.pc, from)
		if err != nil {
			p.httpErr = err.Error()
			return
		}
		p.rep.ClusterID = cid
		p.setHeaderVersion(server)
	}
	for _, typ := range []string{streamMessage, streamMsgApp} {
		hdr := streamHeaders(from, p.rep.MemberID, p.rep.ClusterID, announcedVersion(p.rep.Version.Server))
		c := streamCheck(ctx, p.pc, typ, hdr)
		p.rep.Stream = append(p.rep.Stream, c)
		p.setHeaderVersion(c.ServerVersion)
	}
}

// setHeaderVersion takes the server version from an X-Server-Version reply
// header when /version did not give one.
func (p *peer) setHeaderVersion(v string) {
	if v != "" && p.rep.Version.Server == "" {
		p.rep.Version = VersionResult{Server: v, Source: "X-Server-Version"}
	}
}

// hasURL reports whether list names u, ignoring a trailing slash.
func hasURL(list []string, u *url.URL) bool {
	want := strings.TrimSuffix(u.String(), "/")
	for _, s := range list {
		if strings.TrimSuffix(s, "/") == want {
			return true
		}
	}
	return false
}
