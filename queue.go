package rafthttp

import (
	"sync"

	"go.etcd.io/raft/v3/raftpb"
)

// msgQueue is a bounded FIFO of messages with any number of producers and
// one consumer. Producers never block: offer refuses when the queue is
// full. The consumer takes everything queued in one step, so a burst of
// messages costs it one lock and at most one wake-up, where a channel
// costs a locked operation on both sides for every message.
type msgQueue struct {
	mu    sync.Mutex
	items []*raftpb.Message
	// spare is the batch last returned by take; the next take reuses it.
	spare []*raftpb.Message
	limit int
	// ready holds a signal whenever items may be non-empty: offer sends
	// one when it fills an empty queue.
	ready chan struct{}
}

func newMsgQueue(limit int) *msgQueue {
	return &msgQueue{limit: limit, ready: make(chan struct{}, 1)}
}

// offer appends m unless the queue holds limit messages already.
func (q *msgQueue) offer(m *raftpb.Message) bool {
	one := [1]*raftpb.Message{m}
	return q.offerAll(one[:]) == 1
}

// offerAll appends as many of ms, in order, as fit under limit, with one
// lock and at most one wake-up, and reports how many it took.
func (q *msgQueue) offerAll(ms []*raftpb.Message) int {
	q.mu.Lock()
	n := min(len(ms), max(q.limit-len(q.items), 0))
	wake := len(q.items) == 0 && n > 0
	q.items = append(q.items, ms[:n]...)
	q.mu.Unlock()
	if wake {
		select {
		case q.ready <- struct{}{}:
		default: // a signal is pending already
		}
	}
	return n
}

// take removes and returns every queued message, oldest first. Only the
// consumer calls it, and the batch it returns is valid until its next
// take, which recycles the batch's memory.
func (q *msgQueue) take() []*raftpb.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch := q.items
	clear(q.spare) // the previous batch is done; do not pin its messages
	q.items, q.spare = q.spare[:0], batch
	return batch
}
