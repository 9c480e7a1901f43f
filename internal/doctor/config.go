package doctor

import (
	"time"
)

// Config says what to check. Zero values take the defaults noted.
type Config struct {
	// Peers are peer URLs (http:// or https://host:port).
	Peers []string
	// Discover adds the peer URLs listed by the first peer's /members.
	Discover bool

	// TLS, with etcdctl's meaning.
	CACert             string // PEM bundle to verify peers with; empty: system roots
	Cert, Key          string // client certificate to present when asked
	InsecureSkipVerify bool   // report but do not judge verification
	ServerName         string // name to verify instead of the URL's host

	// Probes is the number of /raft/probing round trips per peer; 0 means 10.
	Probes int
	// Timeout bounds each connect and each request; 0 means 5s.
	Timeout time.Duration
	// MaxRTT is the p99 round-trip time above which a peer is called slow;
	// 0 means 100ms, etcd's default heartbeat interval.
	MaxRTT time.Duration
	// ExpiryWarning is how close to expiry a certificate is reported;
	// 0 means 30 days.
	ExpiryWarning time.Duration
	// FromID is the non-member sender ID of the stream probe; 0 means
	// DefaultFromID.
	FromID uint64
	// Now is the local clock; nil means time.Now. Tests shift it.
	Now func() time.Time
}

// DefaultFromID is the sender ID of the stream probe: "doctor" in ASCII,
// recognisable in a peer's log and never a member ID etcd generates in
// practice (the probe picks another if it is one).
const DefaultFromID uint64 = 0x646f63746f72

// MaxClockDrift is etcd's threshold: a member warns "prober found high clock
// drift" when a peer's clock differs from its own by more than this.
const MaxClockDrift = time.Second

func (c Config) withDefaults() Config {
	if c.Probes <= 0 {
		c.Probes = 10
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxRTT <= 0 {
		c.MaxRTT = 100 * time.Millisecond
	}
	if c.ExpiryWarning <= 0 {
		c.ExpiryWarning = 30 * 24 * time.Hour
	}
	if c.FromID == 0 {
		c.FromID = DefaultFromID
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
