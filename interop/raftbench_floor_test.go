package interop

// BenchmarkRaftClusterFloor: the raft cluster of BenchmarkRaftCluster on
// both Transports and on an in-memory stand-in (impl=inmem) that hands
// every message, as it is, to a goroutine per link that calls the peer's
// Process: no encoding, no system calls, no HTTP. It is what raft, the
// node loops and the clients cost with the least a Transport can do (one
// hand-off per message to a goroutine that steps it into raft), so its
// commits/s and CPU per commit bound what any Transport can reach on the
// same machine. Not part of `make bench`; run it with
//
//	go test -run '^$' -bench '^BenchmarkRaftClusterFloor$' .

import (
	"context"
	"io"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// implInMem names the in-memory stand-in in impl= elements.
const implInMem = "inmem"

// BenchmarkRaftClusterFloor reports what BenchmarkRaftCluster reports, for
// etcd's Transport, ours and the in-memory stand-in in one process.
func BenchmarkRaftClusterFloor(b *testing.B) {
	benchRaftClusters(b, []string{implEtcd, implOurs, implInMem})
}

// inMemNet connects a cluster's in-memory Transports: it knows every
// node by ID.
type inMemNet struct {
	nodes map[uint64]*benchNode
}

// inMemTransport is one node's in-memory Transport: a queue and a
// goroutine per peer, which steps the messages into the peer's raft in
// the order they were sent. It never drops. Raft changes neither a
// message nor its entries once it has handed them out, so both nodes may
// hold them.
type inMemTransport struct {
	net   *inMemNet
	mu    sync.Mutex
	links map[uint64]*msgLink
	stop  chan struct{}
	wg    sync.WaitGroup
}

// msgLink is the queue of one peer's messages.
type msgLink struct {
	mu    sync.Mutex
	queue []*raftpb.Message
	ready chan struct{} // holds a signal while queue may be non-empty
}

func (n *inMemNet) newTransport() *inMemTransport {
	return &inMemTransport{net: n, links: make(map[uint64]*msgLink), stop: make(chan struct{})}
}

// Send queues each message on its peer's link; messages to unknown peers
// are dropped, as no benchmark sends any.
func (t *inMemTransport) Send(msgs []*raftpb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		if l := t.links[m.GetTo()]; l != nil {
			l.offer(m)
		}
	}
}

func (l *msgLink) offer(m *raftpb.Message) {
	l.mu.Lock()
	wake := len(l.queue) == 0
	l.queue = append(l.queue, m)
	l.mu.Unlock()
	if wake {
		select {
		case l.ready <- struct{}{}:
		default:
		}
	}
}

func (l *msgLink) take() []*raftpb.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queue
	l.queue = nil
	return q
}

// addPeer starts the link to node id, whose URL it does not need.
func (t *inMemTransport) addPeer(id uint64, _ string) {
	l := &msgLink{ready: make(chan struct{}, 1)}
	t.mu.Lock()
	t.links[id] = l
	t.mu.Unlock()
	to := t.net.nodes[id]
	t.wg.Go(func() { t.deliver(l, to) }) // owned: Stop waits for it
}

// deliver steps the link's messages into to until the Transport stops.
func (t *inMemTransport) deliver(l *msgLink, to *benchNode) {
	ctx := context.Background()
	for {
		select {
		case <-t.stop:
			return
		case <-l.ready:
			for _, m := range l.take() {
				if err := to.Process(ctx, m); err != nil {
					to.check(err)
				}
			}
		}
	}
}

// Stop ends every link's goroutine and waits for them. A goroutine
// blocked in Process returns once its raft node has stopped; the cluster
// stops its nodes' loops first.
func (t *inMemTransport) Stop() {
	close(t.stop)
	t.wg.Wait()
}

// The rest of transportImpl is not used by the raft cluster.

func (t *inMemTransport) activeSince(uint64) time.Time { return time.Time{} }

func (t *inMemTransport) sendSnapshot(*raftpb.Message, io.ReadCloser, int64) <-chan bool {
	c := make(chan bool, 1)
	c <- false
	return c
}

// startMember starts node n's in-memory Transport behind a server that
// serves nothing, so that the member has a URL like the others.
func (net *inMemNet) startMember(n *benchNode) *perfSide {
	s := &perfSide{id: n.id, server: &perfServer{}, tr: net.newTransport()}
	s.server.srv = httptest.NewServer(s.server)
	return s
}
