package interop

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

const (
	// sendWindow is the most MsgApps in flight (sent, not yet processed).
	// Both Transports queue 4,096 messages per stream before dropping, so
	// at 2,048 a non-blocking Send never drops.
	sendWindow = 2048
	// sendBatch is how many MsgApps go into one Send call unless a
	// shape's perSend says fewer, as a busy leader's Ready carries several.
	sendBatch = 64
	// drainTimeout bounds every wait for the follower.
	drainTimeout = 30 * time.Second
)

// msgBuilder makes consecutive MsgApps (Term 1, LogTerm 1, each Index
// continuing the last) so both msgappv2 encoders take their fast path.
// Every message shares the constant fields and the entry data, which the
// Transports only read.
//
// Single-entry messages are recycled from a ring of recycleLen built once,
// so the driver adds neither work nor garbage per message and the MsgApp
// cases measure the Transports, as the raw TCP baseline sends pre-built
// frames. Messages with several entries are built fresh, a Send batch at a
// time from four slabs (well under 0.1 allocations per message, see
// BenchmarkMsgAppBuild): a ring deep enough for them would hold half a
// million entries for the garbage collector to scan.
type msgBuilder struct {
	typ      raftpb.MessageType
	entType  raftpb.EntryType
	from, to uint64
	term     uint64
	entries  int
	data     []byte
	index    uint64 // last index sent
	ring     []*raftpb.Message
	next     int // ring slot to use next
}

// recycleLen is how many messages the ring holds. A slot is reused only
// once the follower has processed at least recycleLen-sendWindow later
// messages, all carried in order by the msgappv2 stream (a run in which any
// message took the pipeline fails). By then the writer that encoded the
// old message has synchronized with a later Send, in the memory model's
// terms: ours has taken a later batch under its queue's lock (the window
// keeps a batch under 2,048 messages); etcd's has received 4,096 later
// messages from its buffered channel, which orders its reads before the
// Send that fills the slot again. Neither depends on how many messages
// each Send call carries.
const recycleLen = 8192

func newMsgBuilder(from, to uint64, entries, entrySize int) *msgBuilder {
	data := make([]byte, entrySize)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	return &msgBuilder{
		typ: raftpb.MsgApp, entType: raftpb.EntryNormal, from: from, to: to, term: 1,
		entries: entries, data: data,
	}
}

// fill fills out with messages that continue the log.
func (mb *msgBuilder) fill(out []*raftpb.Message) {
	if mb.entries != 1 {
		mb.build(out)
		return
	}
	if mb.ring == nil {
		mb.ring = make([]*raftpb.Message, recycleLen)
		last := mb.index
		for i := 0; i < recycleLen; i += sendBatch {
			mb.build(mb.ring[i : i+sendBatch])
		}
		mb.index = last // every slot is rewritten when used
	}
	for i := range out {
		m := mb.ring[mb.next]
		mb.next = (mb.next + 1) % recycleLen
		*m.Index = mb.index // Commit points to the same number
		mb.index++
		*m.Entries[0].Index = mb.index
		out[i] = m
	}
}

// build fills out with new messages that continue the log.
func (mb *msgBuilder) build(out []*raftpb.Message) {
	k, e := len(out), mb.entries
	msgs := make([]raftpb.Message, k)
	ents := make([]raftpb.Entry, k*e)
	eptrs := make([]*raftpb.Entry, k*e)
	nums := make([]uint64, k*(1+e)) // per message: Index, then each entry's Index
	for i := range out {
		n := nums[i*(1+e) : (i+1)*(1+e)]
		n[0] = mb.index
		m := &msgs[i]
		m.Type, m.From, m.To, m.Term, m.LogTerm = &mb.typ, &mb.from, &mb.to, &mb.term, &mb.term
		m.Index, m.Commit = &n[0], &n[0]
		m.Entries = eptrs[i*e : (i+1)*e : (i+1)*e]
		for j := range e {
			mb.index++
			n[1+j] = mb.index
			ent := &ents[i*e+j]
			ent.Term, ent.Index, ent.Type, ent.Data = &mb.term, &n[1+j], &mb.entType, mb.data
			m.Entries[j] = ent
		}
		out[i] = m
	}
}

// appDriver sends MsgApps from a leader to a follower, perSend to a Send
// call, never more than sendWindow ahead of the follower's Process. One
// goroutine at a time.
type appDriver struct {
	from    transportImpl
	to      *perfRaft
	build   *msgBuilder
	perSend int
	sent    atomic.Int64 // total MsgApps handed to Send
	outBuf  []*raftpb.Message
}

func newAppDriver(leader, follower *perfSide, entries, entrySize int) *appDriver {
	return &appDriver{
		from:    leader.tr,
		to:      follower.raft,
		build:   newMsgBuilder(leader.id, follower.id, entries, entrySize),
		perSend: sendBatch,
		outBuf:  make([]*raftpb.Message, sendBatch),
	}
}

// setShape makes later messages take shape's form and Send pattern; the
// log continues where it was.
func (d *appDriver) setShape(shape msgShape) {
	d.perSend = max(1, min(shape.perSend, sendBatch))
	if d.build.entries == shape.entries && len(d.build.data) == shape.size {
		return // keep the ring
	}
	b := newMsgBuilder(d.build.from, d.build.to, shape.entries, shape.size)
	b.index = d.build.index
	d.build = b
}

// send hands n more MsgApps to Send, perSend to a call, waiting for room
// in the window before each call. It does not wait for the last ones.
func (d *appDriver) send(n int) error {
	for n > 0 {
		k := min(n, d.perSend)
		sent := d.sent.Load()
		if err := d.to.waitApps(sent+int64(k)-sendWindow, drainTimeout); err != nil {
			return fmt.Errorf("waiting for room in the window (%d sent): %w", sent, err)
		}
		out := d.outBuf[:k]
		d.build.fill(out)
		d.from.Send(out)
		clear(out)
		d.sent.Store(sent + int64(k))
		n -= k
	}
	return nil
}

// drain waits until the follower has processed every MsgApp sent.
func (d *appDriver) drain() error {
	if err := d.to.waitApps(d.sent.Load(), drainTimeout); err != nil {
		return fmt.Errorf("draining (%d sent): %w", d.sent.Load(), err)
	}
	return nil
}

// sendAndDrain sends n MsgApps and waits for all of them.
func (d *appDriver) sendAndDrain(n int) error {
	if err := d.send(n); err != nil {
		return err
	}
	return d.drain()
}

func TestMsgBuilderContinuesLog(t *testing.T) {
	for _, shape := range allShapes() {
		mb := newMsgBuilder(leaderID, followerID, shape.entries, shape.size)
		mb.index = 100
		want := uint64(100) // the Index the next message must carry
		out := make([]*raftpb.Message, sendBatch)
		// Past the ring's end, so recycled messages are checked too.
		for range recycleLen/sendBatch + 2 {
			mb.fill(out)
			for _, m := range out {
				if m.GetIndex() != want || m.GetCommit() != want {
					t.Fatalf("%s: message with Index %d, Commit %d, want %d", shape.name, m.GetIndex(), m.GetCommit(), want)
				}
				for _, e := range m.GetEntries() {
					want++
					if e.GetIndex() != want || len(e.GetData()) != shape.size {
						t.Fatalf("%s: entry Index %d with %d bytes, want Index %d with %d", shape.name, e.GetIndex(), len(e.GetData()), want, shape.size)
					}
				}
			}
		}
	}
}
