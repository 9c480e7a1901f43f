package kv

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Defaults for zero fields of Config, and the limits of the client API.
const (
	// DefaultSnapshotCount is how many applied entries trigger a snapshot.
	DefaultSnapshotCount = 10000
	// DefaultTickInterval is the raft tick; elections take 10 ticks.
	DefaultTickInterval = 100 * time.Millisecond
	// DefaultRequestTimeout bounds how long a PUT, POST or DELETE waits
	// for its entry to be applied before answering 503.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultClusterID is the cluster ID announced to peers.
	DefaultClusterID = 0x1000

	// MaxValueBytes is the largest value a PUT may carry (1 MiB). Larger
	// bodies are answered 413.
	MaxValueBytes = 1 << 20
	// MaxKeyBytes is the longest key (1 KiB); longer keys are answered 400.
	MaxKeyBytes = 1 << 10
	// maxURLBytes bounds the body of POST /<id>.
	maxURLBytes = 4 << 10
)

// Config describes one member. ID, Peers, DataDir and one of ClientAddr or
// ClientListener are required; every other zero field means its default.
type Config struct {
	// ID is the member's raft ID, at least 1. Its peer URL is Peers[ID-1].
	ID uint64
	// Peers are the peer URLs of the members, member i at Peers[i-1]. A new
	// cluster is bootstrapped with all of them; a joining member (Join)
	// dials the others to reach the leader.
	Peers []string
	// Join starts a member that was added with POST /<id> to a running
	// cluster, instead of bootstrapping a new cluster. It is ignored when
	// DataDir already holds a log.
	Join bool
	// DataDir holds the write-ahead log and the snapshots. It is created
	// if missing.
	DataDir string
	// ClientAddr is the listen address of the client API, for example
	// "127.0.0.1:12380". Ignored when ClientListener is set.
	ClientAddr string
	// ClientListener, if set, serves the client API; Stop closes it.
	ClientListener net.Listener
	// PeerListener, if set, serves raft traffic instead of a listener on
	// the host of Peers[ID-1]; Stop closes it.
	PeerListener net.Listener
	// SnapshotCount is how many applied entries trigger a snapshot; zero
	// means DefaultSnapshotCount.
	SnapshotCount uint64
	// CatchUpEntries is how many entries before a snapshot stay in the
	// in-memory log for slow followers; zero means SnapshotCount/2. A
	// follower further behind receives a snapshot.
	CatchUpEntries uint64
	// TickInterval is the raft tick; zero means DefaultTickInterval.
	TickInterval time.Duration
	// RequestTimeout bounds waiting for a proposal to apply; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// ClusterID must be the same on every member; zero means
	// DefaultClusterID.
	ClusterID uint64
	// Logger receives the node's, raft's and the Transport's logs; nil
	// discards them.
	Logger *zap.Logger
}

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.ID == 0 {
		return c, errors.New("kv: Config.ID must be at least 1")
	}
	if c.ID > uint64(len(c.Peers)) {
		return c, fmt.Errorf("kv: member %d has no peer URL: Peers lists %d", c.ID, len(c.Peers))
	}
	peers := make([]string, len(c.Peers))
	for i, p := range c.Peers {
		u, err := ParsePeerURL(p)
		if err != nil {
			return c, fmt.Errorf("kv: peer URL of member %d: %w", i+1, err)
		}
		peers[i] = u
	}
	c.Peers = peers
	if c.DataDir == "" {
		return c, errors.New("kv: Config.DataDir is empty")
	}
	if c.ClientAddr == "" && c.ClientListener == nil {
		return c, errors.New("kv: Config.ClientAddr is empty")
	}
	c.SnapshotCount = cmp.Or(c.SnapshotCount, DefaultSnapshotCount)
	c.CatchUpEntries = cmp.Or(c.CatchUpEntries, c.SnapshotCount/2)
	c.TickInterval = cmp.Or(c.TickInterval, DefaultTickInterval)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, DefaultRequestTimeout)
	c.ClusterID = cmp.Or(c.ClusterID, DefaultClusterID)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c, nil
}

// peerURL returns the member's own peer URL.
func (c Config) peerURL() string { return c.Peers[c.ID-1] }

// ParsePeerURL checks that s is an absolute http or https URL with a host
// and a numeric port and nothing else, and returns it as scheme://host:port.
func ParsePeerURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("malformed URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("URL %q: scheme must be http or https", s)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("URL %q: want only scheme, host and port", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return "", fmt.Errorf("URL %q: want host:port", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("URL %q: bad port %q", s, port)
	}
	return u.Scheme + "://" + u.Host, nil
}
