package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// doctor carries one run's settings.
type doctor struct {
	cfg Config
	tls *tlsSetup
}

// Run checks every peer in cfg and judges them. It returns an error only
// for bad input (no peers, a malformed URL, unreadable TLS files); every
// problem found in the cluster is in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	d, peers, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	defer closePeers(peers)
	return d.run(ctx, peers)
}

func prepare(cfg Config) (*doctor, []*peer, error) {
	cfg = cfg.withDefaults()
	s, err := loadTLS(cfg)
	if err != nil {
		return nil, nil, err
	}
	if len(cfg.Peers) == 0 {
		return nil, nil, errors.New("no peer URLs given")
	}
	var peers []*peer
	for _, raw := range cfg.Peers {
		p, err := newPeer(raw)
		if err != nil {
			return nil, nil, err
		}
		peers = append(peers, p)
	}
	return &doctor{cfg: cfg, tls: s}, peers, nil
}

func newPeer(raw string) (*peer, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not a peer URL like http://10.0.0.1:2380", raw)
	}
	return &peer{url: u, rep: &PeerReport{URL: raw}}, nil
}

func closePeers(peers []*peer) {
	for _, p := range peers {
		if p.pc != nil {
			p.pc.close()
		}
	}
}

// run inspects every peer first, so the member lists are known before any
// stream probe picks its sender ID, then exercises them and judges.
func (d *doctor) run(ctx context.Context, peers []*peer) (*Report, error) {
	for _, p := range peers {
		d.inspect(ctx, p)
	}
	if d.cfg.Discover {
		peers = d.discover(ctx, peers)
	}
	from := pickSender(d.cfg.FromID, peers)
	for _, p := range peers {
		d.exercise(ctx, p, from)
	}
	rep := &Report{Time: d.cfg.Now().UTC()}
	for _, p := range peers {
		rep.Peers = append(rep.Peers, p.rep)
	}
	judge(d.cfg, rep, peers)
	return rep, nil
}

// discover adds the peer URLs of the first /members answer that are not
// listed yet, and inspects them.
func (d *doctor) discover(ctx context.Context, peers []*peer) []*peer {
	for _, p := range peers {
		if len(p.rep.Members) == 0 {
			continue
		}
		for _, m := range p.rep.Members {
			for _, raw := range m.PeerURLs {
				if listed(peers, raw) {
					continue
				}
				np, err := newPeer(raw)
				if err != nil {
					continue
				}
				d.inspect(ctx, np)
				peers = append(peers, np)
			}
		}
		break
	}
	return peers
}

func listed(peers []*peer, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return true
	}
	for _, p := range peers {
		if hasURL([]string{p.url.String()}, u) {
			return true
		}
	}
	return false
}

// pickSender returns want, or the next ID up if some peer lists want as a
// member: the stream probe must come from a non-member.
func pickSender(want uint64, peers []*peer) uint64 {
	taken := map[string]bool{}
	for _, p := range peers {
		for _, m := range p.rep.Members {
			taken[m.ID] = true
		}
		if p.rep.MemberID != "" {
			taken[p.rep.MemberID] = true
		}
	}
	for taken[strconv.FormatUint(want, 16)] {
		want++
	}
	return want
}
