package stats

import (
	"encoding/json"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
)

// ServerStats describes one member's raft traffic. Build it with
// NewServerStats; a zero ServerStats works but has a zero start time.
//
// The exported fields are promoted from an embedded struct, as in etcd.
// Hold the embedded Mutex when reading them directly; the methods take it
// themselves.
type ServerStats struct {
	serverFields
	sync.Mutex

	// Immutable:
	now func() time.Time // the clock; nil means time.Now
}

// serverFields is the part of ServerStats that JSON renders. It is copied
// under the lock so that marshalling happens without it.
type serverFields struct {
	Name      string         `json:"name"`
	ID        string         `json:"id"`
	State     raft.StateType `json:"state"`
	StartTime time.Time      `json:"startTime"`

	LeaderInfo struct {
		Name      string    `json:"leader"`
		Uptime    string    `json:"uptime"`
		StartTime time.Time `json:"startTime"`
	} `json:"leaderInfo"`

	RecvAppendRequestCnt uint64  `json:"recvAppendRequestCnt"`
	RecvingPkgRate       float64 `json:"recvPkgRate,omitempty"`
	RecvingBandwidthRate float64 `json:"recvBandwidthRate,omitempty"`

	SendAppendRequestCnt uint64  `json:"sendAppendRequestCnt"`
	SendingPkgRate       float64 `json:"sendPkgRate,omitempty"`
	SendingBandwidthRate float64 `json:"sendBandwidthRate,omitempty"`

	sendRates rateQueue
	recvRates rateQueue
}

// NewServerStats returns stats for the member with the given name and ID
// (its hexadecimal form). Empty strings are allowed. The member starts as a
// follower with no known leader, and its start times are now.
func NewServerStats(name, id string) *ServerStats {
	return newServerStatsWithClock(name, id, time.Now)
}

// newServerStatsWithClock is NewServerStats with an injectable clock.
func newServerStatsWithClock(name, id string, now func() time.Time) *ServerStats {
	ss := &ServerStats{now: now}
	ss.Name, ss.ID = name, id
	t := ss.clock()
	ss.StartTime = t
	ss.LeaderInfo.StartTime = t
	return ss
}

// JSON renders the stats, including current send and receive rates over the
// last 200 requests and the time since the current leader took over. It
// returns nil only if marshalling fails, which these fields cannot cause.
func (ss *ServerStats) JSON() []byte {
	ss.Lock()
	now := ss.clock()
	ss.SendingPkgRate, ss.SendingBandwidthRate = ss.sendRates.rate(now)
	ss.RecvingPkgRate, ss.RecvingBandwidthRate = ss.recvRates.rate(now)
	ss.LeaderInfo.Uptime = now.Sub(ss.LeaderInfo.StartTime).String()
	view := ss.serverFields
	ss.Unlock()

	b, err := json.Marshal(&view)
	if err != nil {
		return nil
	}
	return b
}

// RecvAppendReq records an append request of reqSize bytes received from
// leader (its ID string). The member becomes a follower; if leader differs
// from the known leader, the leader's start time resets to now.
func (ss *ServerStats) RecvAppendReq(leader string, reqSize int) {
	ss.Lock()
	defer ss.Unlock()
	now := ss.clock()
	ss.State = raft.StateFollower
	if ss.LeaderInfo.Name != leader {
		ss.LeaderInfo.Name = leader
		ss.LeaderInfo.StartTime = now
	}
	ss.recvRates.insert(now, reqSize)
	ss.RecvAppendRequestCnt++
}

// SendAppendReq records an append request of reqSize bytes sent by this
// member, which implies it is the leader (see BecomeLeader).
func (ss *ServerStats) SendAppendReq(reqSize int) {
	ss.SendAppendReqs(1, reqSize)
}

// SendAppendReqs records count append requests of totalBytes together,
// all sent now: SendAppendReq for a batch, with one clock reading. The
// bytes are shared out evenly, so the rates it yields are the same.
func (ss *ServerStats) SendAppendReqs(count, totalBytes int) {
	if count < 1 {
		return
	}
	ss.Lock()
	defer ss.Unlock()
	ss.sendAppendReqsLocked(ss.clock(), count, totalBytes)
}

// SendAppendReqsAt is SendAppendReqs for requests sent at a time the
// caller has just read, so a caller that reads the clock anyway spares a
// second reading. Callers on several goroutines may record out of order:
// a time before the latest recorded counts as the latest, so the window's
// span never runs backwards.
func (ss *ServerStats) SendAppendReqsAt(at time.Time, count, totalBytes int) {
	if count < 1 {
		return
	}
	ss.Lock()
	defer ss.Unlock()
	if newest, ok := ss.sendRates.newest(); ok && at.Before(newest) {
		at = newest
	}
	ss.sendAppendReqsLocked(at, count, totalBytes)
}

func (ss *ServerStats) sendAppendReqsLocked(now time.Time, count, totalBytes int) {
	ss.becomeLeaderLocked(now)
	ss.sendRates.insertN(now, count, totalBytes)
	ss.SendAppendRequestCnt += uint64(count)
}

// BecomeLeader marks this member as the leader. If it was not already
// leader, the leader becomes its own ID and the leader start time is now.
func (ss *ServerStats) BecomeLeader() {
	ss.Lock()
	defer ss.Unlock()
	ss.becomeLeaderLocked(ss.clock())
}

// clock returns the current time from the injected clock, if any.
func (ss *ServerStats) clock() time.Time {
	if ss.now == nil {
		return time.Now()
	}
	return ss.now()
}

// becomeLeaderLocked is BecomeLeader for callers holding the lock.
func (ss *ServerStats) becomeLeaderLocked(now time.Time) {
	if ss.State == raft.StateLeader {
		return
	}
	ss.State = raft.StateLeader
	ss.LeaderInfo.Name = ss.ID
	ss.LeaderInfo.StartTime = now
}
