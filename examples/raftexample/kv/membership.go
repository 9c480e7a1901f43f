package kv

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// Reasons a membership change is refused, both when it is requested and,
// identically on every member, when it is applied.
var (
	errMemberExists  = errors.New("kv: member already exists")
	errIDRemoved     = errors.New("kv: member ID was removed and cannot be reused")
	errURLInUse      = errors.New("kv: peer URL belongs to another member")
	errUnknownMember = errors.New("kv: no such member")
	errLastMember    = errors.New("kv: cannot remove the last member")
	errUnsupported   = errors.New("kv: unsupported membership change")
)

// applyConfChange applies a committed membership change, or skips it when
// the membership refuses it. The refusal depends only on replicated state,
// so every member makes the same decision.
func (n *Node) applyConfChange(e *raftpb.Entry) error {
	cc, reqID, err := decodeConfChange(e)
	if err != nil {
		n.lg.Error("skipped malformed membership change", zap.Uint64("index", e.GetIndex()), zap.Error(err))
		return nil
	}
	v2 := cc.AsV2()
	for _, c := range v2.GetChanges() {
		if err := n.checkChange(c, string(v2.GetContext())); err != nil {
			n.waiters.trigger(reqID, err)
			return nil
		}
	}
	n.confState = n.raft.ApplyConfChange(cc)
	removedSelf := false
	for _, c := range v2.GetChanges() {
		removedSelf = n.applyChange(c, string(v2.GetContext())) || removedSelf
	}
	n.waiters.trigger(reqID, nil)
	if removedSelf {
		return ErrRemoved
	}
	return nil
}

// decodeConfChange returns the change in e and its request ID (only
// version 1 changes carry one).
func decodeConfChange(e *raftpb.Entry) (raftpb.ConfChangeI, uint64, error) {
	if e.GetType() == raftpb.EntryConfChange {
		cc := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			return nil, 0, err
		}
		return cc, cc.GetId(), nil
	}
	cc := &raftpb.ConfChangeV2{}
	if err := proto.Unmarshal(e.GetData(), cc); err != nil {
		return nil, 0, err
	}
	return cc, 0, nil
}

// checkChange says whether the membership allows c; url is the new
// member's peer URL.
func (n *Node) checkChange(c *raftpb.ConfChangeSingle, url string) error {
	id := c.GetNodeId()
	switch c.GetType() {
	case raftpb.ConfChangeType_ConfChangeAddNode:
		return n.checkAdd(id, url)
	case raftpb.ConfChangeType_ConfChangeRemoveNode:
		return n.checkRemove(id)
	default:
		return fmt.Errorf("%w: %v", errUnsupported, c.GetType())
	}
}

func (n *Node) checkAdd(id uint64, url string) error {
	if _, err := ParsePeerURL(url); err != nil {
		return err
	}
	switch {
	case n.state.isRemoved(id):
		return errIDRemoved
	case n.state.urlOwner(url) != 0:
		return errURLInUse
	}
	if _, ok := n.state.member(id); ok {
		return errMemberExists
	}
	return nil
}

func (n *Node) checkRemove(id uint64) error {
	if _, ok := n.state.member(id); !ok {
		return errUnknownMember
	}
	if len(n.state.memberIDs()) == 1 {
		return errLastMember
	}
	return nil
}

// applyChange updates the membership and the Transport. It reports whether
// this member was removed.
func (n *Node) applyChange(c *raftpb.ConfChangeSingle, url string) bool {
	id := c.GetNodeId()
	switch c.GetType() {
	case raftpb.ConfChangeType_ConfChangeAddNode:
		n.state.addMember(id, url)
		n.addPeer(id, url)
		n.lg.Info("member added", zap.Uint64("id", id), zap.String("url", url))
	case raftpb.ConfChangeType_ConfChangeRemoveNode:
		n.state.removeMember(id)
		if id == n.cfg.ID {
			return true
		}
		n.removePeer(id)
		n.lg.Info("member removed", zap.Uint64("id", id))
	}
	return false
}
