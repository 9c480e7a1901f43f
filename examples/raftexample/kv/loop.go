package kv

import (
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// Raft settings: with the default 100 ms tick a follower campaigns after
// 1–2 s without a leader, and the leader heartbeats every tick.
const (
	electionTicks      = 10
	heartbeatTicks     = 1
	maxSizePerMsg      = 1 << 20
	maxInflightMsgs    = 256
	maxUncommittedSize = 1 << 30
)

// startRaft starts raft on the restored storage: bootstrapping a new
// cluster when there is no log and the member is not joining one.
func (n *Node) startRaft(st *WALState) {
	c := &raft.Config{
		ID:                        n.cfg.ID,
		ElectionTick:              electionTicks,
		HeartbeatTick:             heartbeatTicks,
		Storage:                   n.storage,
		Applied:                   n.applied.Load(),
		MaxSizePerMsg:             maxSizePerMsg,
		MaxInflightMsgs:           maxInflightMsgs,
		MaxUncommittedEntriesSize: maxUncommittedSize,
		PreVote:                   true,
		CheckQuorum:               true,
		Logger:                    newRaftLogger(n.cfg.Logger),
	}
	if !st.Empty() || n.cfg.Join {
		n.raft = raft.RestartNode(c)
		return
	}
	peers := make([]raft.Peer, len(n.cfg.Peers))
	for i, u := range n.cfg.Peers {
		peers[i] = raft.Peer{ID: uint64(i + 1), Context: []byte(u)}
	}
	n.raft = raft.StartNode(c, peers)
}

// run is the node's only goroutine touching raft's Ready. It returns on
// Stop, on removal from the cluster and on a storage error.
func (n *Node) run() {
	defer close(n.done)
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n.raft.Tick()
		case rd := <-n.raft.Ready():
			if err := n.handleReady(rd); err != nil {
				n.exit(err)
				return
			}
		case err := <-n.errorc:
			n.exit(fmt.Errorf("%w: %w", ErrRemoved, err))
			return
		case <-n.stopc:
			return
		}
	}
}

// exit records why the run loop stops on its own.
func (n *Node) exit(err error) {
	n.runErr = err
	if err != nil {
		n.lg.Warn("stopping", zap.Error(err))
	}
}

// handleReady does what raft requires with rd, in order: persist, send,
// apply, advance.
func (n *Node) handleReady(rd raft.Ready) error {
	if err := n.persist(rd); err != nil {
		return err
	}
	n.sendMessages(rd.Messages)
	if err := n.applyEntries(rd.CommittedEntries); err != nil {
		return err
	}
	if rd.SoftState != nil && rd.SoftState.Lead != n.lead {
		n.lead = rd.SoftState.Lead
		// Proposals forwarded to the old leader are likely lost; answer
		// them now (503, retry) instead of when they time out.
		n.waiters.failAll(errLeaderChanged)
	}
	n.raft.Advance()
	return n.maybeSnapshot()
}

// persist writes rd's hard state, entries and snapshot to the WAL (which
// fsyncs) and then to raft's MemoryStorage.
func (n *Node) persist(rd raft.Ready) error {
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd); err != nil {
			return err
		}
	} else if err := n.wal.Save(rd.HardState, rd.Entries); err != nil {
		return err
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := n.storage.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("kv: storing hard state: %w", err)
		}
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("kv: storing entries: %w", err)
	}
	return nil
}

// sendMessages hands rd's messages to the Transport; snapshots go
// separately, with the state-machine file streamed behind them.
func (n *Node) sendMessages(msgs []*raftpb.Message) {
	out := msgs[:0:0]
	for _, m := range msgs {
		if m.GetType() == raftpb.MsgSnap {
			n.sendSnapshot(m)
			continue
		}
		out = append(out, m)
	}
	n.transport.Send(out)
}

// applyEntries applies committed entries the state machine has not seen.
// It returns ErrRemoved once this member's own removal is applied.
func (n *Node) applyEntries(ents []*raftpb.Entry) error {
	for _, e := range ents {
		if e.GetIndex() <= n.applied.Load() {
			continue
		}
		var err error
		switch e.GetType() {
		case raftpb.EntryNormal:
			n.applyPut(e)
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
			err = n.applyConfChange(e)
		}
		n.applied.Store(e.GetIndex())
		if err != nil {
			return err
		}
	}
	n.metrics.applied.Set(float64(n.applied.Load()))
	return nil
}

func (n *Node) applyPut(e *raftpb.Entry) {
	if len(e.GetData()) == 0 {
		return // a new leader's empty entry
	}
	req, err := unmarshalPut(e.GetData())
	if err != nil {
		// Only well-formed proposals are made, so this is a bug; skipping
		// keeps every member identical.
		n.lg.Error("skipped malformed entry", zap.Uint64("index", e.GetIndex()), zap.Error(err))
		return
	}
	n.state.put(req.key, req.value)
	n.waiters.trigger(req.id, nil)
}
