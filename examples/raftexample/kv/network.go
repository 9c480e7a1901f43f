package kv

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/types"
)

// HTTP server limits. Peer streams are long-lived responses, so neither
// server bounds the whole request or response, only the header.
const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = time.Minute
	maxHeaderBytes    = 64 << 10
)

// openNetwork opens both listeners, starts the Transport and builds both
// servers. On error everything it opened is closed again.
func (n *Node) openNetwork() (err error) {
	var opened []func() error
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				_ = opened[i]()
			}
		}
	}()
	if n.peerLn, err = listenPeer(n.cfg); err != nil {
		return err
	}
	opened = append(opened, n.peerLn.Close)
	if n.clientLn, err = listenClient(n.cfg); err != nil {
		return err
	}
	opened = append(opened, n.clientLn.Close)
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return fmt.Errorf("kv: registering metrics: %w", err)
	}
	if n.metrics, err = newMetrics(reg); err != nil {
		return err
	}
	if err := n.startTransport(reg); err != nil {
		return err
	}
	n.peerSrv = newServer(n.transport.Handler(), n.cfg.Logger)
	n.clientSrv = newServer(n.clientHandler(reg), n.cfg.Logger)
	return nil
}

func listenPeer(cfg Config) (net.Listener, error) {
	if cfg.PeerListener != nil {
		return cfg.PeerListener, nil
	}
	u, err := url.Parse(cfg.peerURL())
	if err != nil {
		return nil, fmt.Errorf("kv: peer URL: %w", err)
	}
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("kv: listening for peers: %w", err)
	}
	return ln, nil
}

func listenClient(cfg Config) (net.Listener, error) {
	if cfg.ClientListener != nil {
		return cfg.ClientListener, nil
	}
	ln, err := net.Listen("tcp", cfg.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("kv: listening for clients: %w", err)
	}
	return ln, nil
}

func newServer(h http.Handler, lg *zap.Logger) *http.Server {
	el, err := zap.NewStdLogAt(lg, zap.WarnLevel)
	if err != nil {
		el = nil // the server then logs to the standard logger
	}
	return &http.Server{
		Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: el,
	}
}

// startTransport starts the Transport and adds every known peer.
func (n *Node) startTransport(reg prometheus.Registerer) error {
	own, err := types.NewURLs([]string{n.cfg.peerURL()})
	if err != nil {
		return fmt.Errorf("kv: peer URL: %w", err)
	}
	n.transport = &rafthttp.Transport{
		Logger:      n.cfg.Logger,
		DialTimeout: time.Second,
		ID:          types.ID(n.cfg.ID),
		URLs:        own,
		ClusterID:   types.ID(n.cfg.ClusterID),
		Raft:        raftAdapter{n},
		Snapshotter: n.snapshotter,
		ErrorC:      n.errorc,
		Registerer:  reg,
	}
	if err := n.transport.Start(); err != nil {
		return fmt.Errorf("kv: starting transport: %w", err)
	}
	n.syncPeers()
	return nil
}

// syncPeers makes the Transport's peers match the membership: every
// member of the state machine and every member named in Config.Peers,
// except this one and removed ones.
func (n *Node) syncPeers() {
	for i, u := range n.cfg.Peers {
		n.addPeer(uint64(i+1), u)
	}
	for _, id := range n.state.memberIDs() {
		if u, ok := n.state.member(id); ok {
			n.addPeer(id, u)
		}
	}
	for _, id := range n.state.removedIDs() {
		n.removePeer(id)
	}
}

// addPeer adds a member to the Transport, which ignores one it has.
func (n *Node) addPeer(id uint64, u string) {
	if id != n.cfg.ID && !n.state.isRemoved(id) {
		n.transport.AddPeer(types.ID(id), []string{u})
	}
}

// removePeer removes a member from the Transport if it is there.
func (n *Node) removePeer(id uint64) {
	if n.transport.Get(types.ID(id)) != nil {
		n.transport.RemovePeer(types.ID(id))
	}
}
