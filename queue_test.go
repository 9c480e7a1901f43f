package rafthttp

import (
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// len returns how many messages are queued; only tests need to know.
func (q *msgQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// takeSignal consumes q's pending signal and reports whether there was one.
func takeSignal(q *msgQueue) bool {
	select {
	case <-q.ready:
		return true
	default:
		return false
	}
}

func TestMsgQueueOrderLimitAndSignal(t *testing.T) {
	q := newMsgQueue(3)
	if takeSignal(q) {
		t.Fatal("an empty queue is signalled")
	}
	ms := []*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1), msg(raftpb.MsgApp, 1, 2, 2), msg(raftpb.MsgApp, 1, 2, 3)}
	for _, m := range ms {
		if !q.offer(m) {
			t.Fatal("offer refused below the limit")
		}
	}
	if q.offer(msg(raftpb.MsgApp, 1, 2, 4)) {
		t.Error("offer accepted beyond the limit")
	}
	if got := q.len(); got != 3 {
		t.Errorf("len = %d, want 3", got)
	}
	if !takeSignal(q) {
		t.Fatal("a filled queue is not signalled")
	}
	batch := q.take()
	if len(batch) != 3 || batch[0] != ms[0] || batch[1] != ms[1] || batch[2] != ms[2] {
		t.Fatalf("take = %v, want the three messages in order", batch)
	}
	if got := q.take(); len(got) != 0 {
		t.Errorf("second take = %d messages, want none", len(got))
	}
	for i := range batch {
		if batch[i] != nil {
			t.Errorf("a finished batch still pins message %d", i)
		}
	}
	// Room again after take, and a new signal for the new first message.
	if !q.offer(ms[0]) {
		t.Fatal("offer refused after take emptied the queue")
	}
	if !takeSignal(q) {
		t.Fatal("refilling an empty queue is not signalled")
	}
	if got := q.take(); len(got) != 1 || q.len() != 0 {
		t.Errorf("take = %d messages, len after = %d; want 1, 0", len(got), q.len())
	}
}

// TestMsgQueueConcurrentProducers checks that a consumer that waits on
// ready and takes sees every offered message exactly once, in each
// producer's order.
func TestMsgQueueConcurrentProducers(t *testing.T) {
	const producers, each = 4, 2000
	q := newMsgQueue(producers * each)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if !q.offer(msg(raftpb.MsgApp, uint64(p), 2, uint64(i))) {
					t.Error("offer refused below the limit")
					return
				}
			}
		})
	}
	next := make([]uint64, producers)
	deadline := time.After(10 * time.Second)
	for got := 0; got < producers*each; {
		select {
		case <-q.ready:
		case <-deadline:
			t.Fatalf("received %d of %d messages", got, producers*each)
		}
		for _, m := range q.take() {
			from := m.GetFrom()
			if m.GetTerm() != next[from] {
				t.Fatalf("producer %d: got message %d, want %d", from, m.GetTerm(), next[from])
			}
			next[from]++
			got++
		}
	}
	wg.Wait()
	if n := q.len(); n != 0 {
		t.Errorf("%d messages left after all were received", n)
	}
}

// TestMsgQueueOfferAll checks that a batch is taken in order up to the
// limit, with one signal, and that a full queue takes none of it.
func TestMsgQueueOfferAll(t *testing.T) {
	q := newMsgQueue(3)
	first := []*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 1), msg(raftpb.MsgApp, 1, 2, 2)}
	if n := q.offerAll(first); n != 2 {
		t.Fatalf("offerAll of 2 into an empty queue of 3 took %d", n)
	}
	rest := []*raftpb.Message{msg(raftpb.MsgApp, 1, 2, 3), msg(raftpb.MsgApp, 1, 2, 4)}
	if n := q.offerAll(rest); n != 1 {
		t.Fatalf("offerAll of 2 with room for 1 took %d", n)
	}
	if n := q.offerAll(rest[1:]); n != 0 {
		t.Fatalf("offerAll into a full queue took %d", n)
	}
	if !takeSignal(q) {
		t.Fatal("filling an empty queue is not signalled")
	}
	batch := q.take()
	if len(batch) != 3 || batch[0] != first[0] || batch[1] != first[1] || batch[2] != rest[0] {
		t.Fatalf("take = %v, want the first three messages in order", batch)
	}
	if n := q.offerAll(nil); n != 0 {
		t.Errorf("offerAll(nil) took %d", n)
	}
	if takeSignal(q) {
		t.Error("offering nothing signalled the consumer")
	}
}
