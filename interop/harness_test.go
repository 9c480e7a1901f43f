package interop

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	etcdtypes "go.etcd.io/etcd/client/pkg/v3/types"
	etcdrafthttp "go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp"
	etcdsnap "go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	etcdstats "go.etcd.io/etcd/server/v3/etcdserver/api/v2stats"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/rafthttp/rafthttp"
	oursnap "github.com/rafthttp/rafthttp/snap"
	ourstats "github.com/rafthttp/rafthttp/stats"
	ourtypes "github.com/rafthttp/rafthttp/types"
)

// IDs used by every test: our Transport is member 1, etcd's is member 2.
const (
	ourID      uint64 = 1
	etcdID     uint64 = 2
	clusterID  uint64 = 0x1000
	otherClust uint64 = 0x2000
)

// transportImpl is what the tests need from either implementation. Send
// and Stop have the same signature in both; the rest differ only in their
// ID and snapshot types.
type transportImpl interface {
	Send(msgs []*raftpb.Message)
	Stop()
	addPeer(id uint64, url string)
	activeSince(id uint64) time.Time
	// sendSnapshot sends m followed by size bytes of rc and returns the
	// message's CloseNotify channel.
	sendSnapshot(m *raftpb.Message, rc io.ReadCloser, size int64) <-chan bool
}

// ourTransport adapts our Transport.
type ourTransport struct{ *rafthttp.Transport }

// addPeer implements transportImpl.
func (o ourTransport) addPeer(id uint64, url string) { o.AddPeer(ourtypes.ID(id), []string{url}) }

// activeSince implements transportImpl.
func (o ourTransport) activeSince(id uint64) time.Time { return o.ActiveSince(ourtypes.ID(id)) }

// sendSnapshot implements transportImpl with our snap.Message.
func (o ourTransport) sendSnapshot(m *raftpb.Message, rc io.ReadCloser, size int64) <-chan bool {
	sm := oursnap.NewMessage(m, rc, size)
	o.SendSnapshot(sm)
	return sm.CloseNotify()
}

// etcdTransport adapts etcd's Transport.
type etcdTransport struct{ *etcdrafthttp.Transport }

// addPeer implements transportImpl.
func (e etcdTransport) addPeer(id uint64, url string) { e.AddPeer(etcdtypes.ID(id), []string{url}) }

// activeSince implements transportImpl.
func (e etcdTransport) activeSince(id uint64) time.Time { return e.ActiveSince(etcdtypes.ID(id)) }

// sendSnapshot implements transportImpl with etcd's snap.Message.
func (e etcdTransport) sendSnapshot(m *raftpb.Message, rc io.ReadCloser, size int64) <-chan bool {
	sm := etcdsnap.NewMessage(m, rc, size)
	e.SendSnapshot(sm)
	return sm.CloseNotify()
}

// sideConfig varies a member between tests.
type sideConfig struct {
	clusterID uint64
	// removed lists the IDs this member's raft reports as removed.
	removed []uint64
	// rejectFrom lists the IDs whose messages this member's raft refuses
	// with a 403 reply.
	rejectFrom []uint64
	// blockStreams starts the member with its stream endpoint refused.
	blockStreams bool
}

// side is one member of an interop pair: a Transport behind its own
// httptest server, a recording raft and a tap in front of the handler.
type side struct {
	name    string
	id      uint64
	cluster uint64
	raft    *recordingRaft
	tap     *tap
	srv     *httptest.Server
	snapDir string
	errorc  chan error
	tr      transportImpl
}

// newSide starts the server and the recorders; the caller adds the
// Transport. The server closes at cleanup, after the Transport stops.
func newSide(t testing.TB, name string, id uint64, cfg sideConfig) *side {
	t.Helper()
	s := &side{
		name: name, id: id, cluster: cfg.clusterID, raft: newRecordingRaft(cfg.removed, cfg.rejectFrom),
		tap: &tap{}, snapDir: t.TempDir(), errorc: make(chan error, 16),
	}
	s.tap.blockStreams.Store(cfg.blockStreams)
	s.srv = httptest.NewServer(s.tap)
	t.Cleanup(s.srv.Close)
	return s
}

// peerMux mounts a Transport handler the way etcd's peer server does: for
// "/raft" and for everything under "/raft/".
func peerMux(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/raft", h)
	mux.Handle("/raft/", h)
	return mux
}

// startOurs starts our Transport as member id.
func startOurs(t testing.TB, id uint64, cfg sideConfig) *side {
	t.Helper()
	s := newSide(t, "ours", id, cfg)
	urls, err := ourtypes.NewURLs([]string{s.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	lg := zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)).Named("ours")
	tr := &rafthttp.Transport{
		Logger:      lg,
		ID:          ourtypes.ID(id),
		URLs:        urls,
		ClusterID:   ourtypes.ID(cfg.clusterID),
		Raft:        s.raft,
		Snapshotter: oursnap.New(lg, s.snapDir),
		ServerStats: ourstats.NewServerStats("ours", ourtypes.ID(id).String()),
		LeaderStats: ourstats.NewLeaderStats(lg, ourtypes.ID(id).String()),
		ErrorC:      s.errorc,
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Stop)
	s.tap.setHandler(peerMux(tr.Handler()))
	s.tr = ourTransport{tr}
	return s
}

// startEtcd starts etcd's Transport as member id. Its Logger stays nil:
// etcd guards every use, and some of its goroutines can outlive Stop, so
// they must not log through the test.
func startEtcd(t testing.TB, id uint64, cfg sideConfig) *side {
	t.Helper()
	s := newSide(t, "etcd", id, cfg)
	urls, err := etcdtypes.NewURLs([]string{s.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tr := &etcdrafthttp.Transport{
		ID:          etcdtypes.ID(id),
		URLs:        urls,
		ClusterID:   etcdtypes.ID(cfg.clusterID),
		Raft:        s.raft,
		Snapshotter: etcdsnap.New(zap.NewNop(), s.snapDir),
		ServerStats: etcdstats.NewServerStats("etcd", etcdtypes.ID(id).String()),
		LeaderStats: etcdstats.NewLeaderStats(zap.NewNop(), etcdtypes.ID(id).String()),
		ErrorC:      s.errorc,
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Stop)
	s.tap.setHandler(peerMux(tr.Handler()))
	s.tr = etcdTransport{tr}
	return s
}

// startPair starts our member and etcd's without connecting them.
func startPair(t testing.TB, ours, etcd sideConfig) (*side, *side) {
	t.Helper()
	return startOurs(t, ourID, ours), startEtcd(t, etcdID, etcd)
}

// connect makes a and b peers of each other.
func connect(a, b *side) {
	a.tr.addPeer(b.id, b.srv.URL)
	b.tr.addPeer(a.id, a.srv.URL)
}

// startConnectedPair starts both members in one cluster, connects them and
// waits until all four streams carry messages.
func startConnectedPair(t testing.TB) (ours, etcd *side) {
	t.Helper()
	ours, etcd = startPair(t, sideConfig{clusterID: clusterID}, sideConfig{clusterID: clusterID})
	connect(ours, etcd)
	waitStreams(t, ours, etcd)
	waitStreams(t, etcd, ours)
	for _, s := range []*side{ours, etcd} {
		peer := etcd
		if s == etcd {
			peer = ours
		}
		if s.tr.activeSince(peer.id).IsZero() {
			t.Fatalf("%s: ActiveSince(%d) is zero with streams up", s.name, peer.id)
		}
	}
	return ours, etcd
}

// direction is one way traffic can flow in a pair.
type direction struct {
	name     string
	from, to *side
}

// directions returns both ways between our member and etcd's.
func directions(ours, etcd *side) []direction {
	return []direction{
		{name: "ours_to_etcd", from: ours, to: etcd},
		{name: "etcd_to_ours", from: etcd, to: ours},
	}
}

// probeTypes are the message types whose probes show that each stream
// works: MsgApp picks msgappv2 whenever it is attached.
var probeTypes = map[streamKind]raftpb.MessageType{
	streamMessage:  raftpb.MsgHeartbeat,
	streamMsgAppV2: raftpb.MsgApp,
}

// waitStreams waits until traffic from `from` to `to` travels over both
// streams: it sends probes until one MsgHeartbeat probe is seen on the
// message stream and one MsgApp probe on the msgappv2 stream, each also
// processed by to's raft. Earlier probes may take the pipeline or the
// message stream; that is what the loop waits out.
func waitStreams(t testing.TB, from, to *side) {
	t.Helper()
	for _, kind := range []streamKind{streamMessage, streamMsgAppV2} {
		what := fmt.Sprintf("%s stream %s→%s", kind, from.name, to.name)
		waitFor(t, 10*time.Second, what, func() bool {
			m, seq := newProbe(probeTypes[kind], from.id, to.id)
			from.tr.Send([]*raftpb.Message{m})
			return to.raft.awaitProbe(seq, 2*time.Second) && from.tap.sawCommit(kind, to.id, seq)
		})
	}
}

// waitFor polls cond every few milliseconds until it holds, failing the
// test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		case <-tick.C:
		}
	}
}
