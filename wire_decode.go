package rafthttp

import (
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A hand-written protobuf decoder for the messages raft sends most. It
// builds the same message proto.Unmarshal would (including which fields
// are present), but in a handful of allocations: one box for the message
// and its scalar fields, one for all entries, one for the entry pointers
// and one for all byte fields. Input it does not cover — snapshots, nested
// responses, unknown fields or enum values, malformed bytes — is handed to
// proto.Unmarshal, so results and errors never differ. The result never
// aliases the input.

// appBox holds a MsgApp rebuilt from a msgappv2 fast-path record and the
// scalars its pointer fields point to: only the fields such a record sets,
// since every byte of it is zeroed on allocation and scanned by the
// garbage collector.
type appBox struct {
	msg                                    raftpb.Message
	typ                                    raftpb.MessageType
	to, from, term, logTerm, index, commit uint64
}

// messageBox holds any decoded message and the scalars its pointer fields
// point to.
type messageBox struct {
	appBox
	rejectHint, vote uint64
	reject           bool
}

// entryBox holds an entry and the scalars its pointer fields point to.
type entryBox struct {
	entry       raftpb.Entry
	typ         raftpb.EntryType
	term, index uint64
}

// withOneEntry lays out a message (box B) with a single entry in one
// allocation: the common MsgApp. A small entry's bytes fit inline too, in
// the smaller of two layouts that holds them (every byte of a layout is
// zeroed on allocation and adds to the garbage collector's work); larger
// bytes go to a slab or a copy of their own.
type withOneEntry[B any] struct {
	box   B
	entry [1]entryBox
	ptr   [1]*raftpb.Entry
}

type withOneSmallEntry[B any] struct {
	withOneEntry[B]
	inline [smallInlineBytes]byte
}

type withOneMidEntry[B any] struct {
	withOneEntry[B]
	inline [inlineBytes]byte
}

// inlineBytes is how many bytes of a single-entry message's byte fields
// can be stored inside its one allocation: enough for a typical small
// key-value write. Up to smallInlineBytes take a smaller layout.
const (
	inlineBytes      = 128
	smallInlineBytes = 64
)

// newMessageSlabs allocates a message box and room for n entries, whose
// byte fields add up to at most byteLen, and sets d to the room. (Filling
// the caller's slabs rather than returning them spares copying them out
// through every frame of the decoder's hot path.) The box of a message
// without entries comes from boxes if it is not nil.
func newMessageSlabs(n, byteLen int, d *slabs, boxes *slabChunk[messageBox]) *messageBox {
	if n == 1 {
		var one oneEntryLayouts[messageBox] // one allocation per layout
		return one.alloc(byteLen, d)
	}
	d.bytes = make([]byte, 0, byteLen)
	if n > 0 {
		d.entries, d.ptrs = make([]entryBox, 0, n), make([]*raftpb.Entry, n)
		return &messageBox{}
	}
	if boxes != nil {
		return boxes.next(boxChunkLen)
	}
	return &messageBox{}
}

// oneEntryLayouts hands out single-entry message layouts with box B,
// perChunk of a kind per allocation (see slabChunk); zero or one
// allocates each on its own.
type oneEntryLayouts[B any] struct {
	perChunk int
	bare     slabChunk[withOneEntry[B]]
	small    slabChunk[withOneSmallEntry[B]]
	mid      slabChunk[withOneMidEntry[B]]
}

// alloc lays out a message with one entry whose byte fields add up to at
// most byteLen, in the smallest layout that holds them, and sets d to its
// slabs.
func (l *oneEntryLayouts[B]) alloc(byteLen int, d *slabs) *B {
	var one *withOneEntry[B]
	switch {
	case byteLen == 0:
		// No bytes to store (or large ones stored on their own).
		one, d.bytes = l.bare.next(l.perChunk), []byte{}
	case byteLen <= smallInlineBytes:
		b := l.small.next(l.smallPerChunk())
		one, d.bytes = &b.withOneEntry, b.inline[:0:byteLen]
	case byteLen <= inlineBytes:
		b := l.mid.next(l.perChunk)
		one, d.bytes = &b.withOneEntry, b.inline[:0:byteLen]
	default:
		// Too large to inline: each byte field gets an exact copy of its
		// own, which append makes without zeroing it first.
		one, d.bytes, d.own = l.bare.next(l.perChunk), []byte{}, true
	}
	d.entries, d.ptrs = one.entry[:0:1], one.ptr[:]
	return &one.box
}

// slabChunk hands out zeroed values of T carved from arrays, so a stream
// of small messages costs one allocation per array instead of one each.
// An array stays alive while any value from it is referenced; its values
// are consecutive messages of one stream, whose entries raft keeps or
// releases together.
type slabChunk[T any] struct{ free []T }

// The msgappv2 decoder's values per array: slabChunkLen of the bare
// (376 bytes) and mid (504) MsgApp layouts, smallChunkLen of the small one
// (440). Each array nearly fills a size class whose spans hold several
// arrays (6784 bytes, 6 per span; 9472, 6; 9728, 5), so only every fifth
// or sixth array takes a span from the heap. 18 small layouts would fill
// the 8 KiB class, of one array per span: a span for every array.
const (
	slabChunkLen  = 18
	smallChunkLen = 22
)

// How many boxes of messages without entries a stream decoder carves
// from one array: 24 of messageBox (280 bytes) and 25 of appBox (256)
// nearly fill the 6784- and 6528-byte size classes with the allocation's
// 8-byte header (six and ten arrays per span). Such messages (MsgAppResp,
// heartbeats, votes, MsgApps that only advance the commit index) are most
// of what the streams of a busy raft cluster carry besides entries, and
// raft keeps none of them once stepped, so an array soon becomes garbage
// as a whole.
const (
	boxChunkLen      = 24
	emptyAppChunkLen = 25
)

// smallPerChunk is how many small layouts an array holds.
func (l *oneEntryLayouts[B]) smallPerChunk() int {
	if l.perChunk > 1 {
		return smallChunkLen
	}
	return l.perChunk
}

// next returns the next value, allocating an array of n when the last one
// is used up.
func (c *slabChunk[T]) next(n int) *T {
	if len(c.free) == 0 {
		c.free = make([]T, max(n, 1))
	}
	v := &c.free[0]
	c.free = c.free[1:]
	return v
}

// Largest enum values raftpb knows; larger ones are unknown fields.
const (
	maxMessageType = raftpb.MsgForgetLeader
	maxEntryType   = raftpb.EntryConfChangeV2
)

// decodeMessage decodes one raftpb.Message. A message without entries
// takes its box from boxes if it is not nil (see newMessageSlabs).
func decodeMessage(b []byte, boxes *slabChunk[messageBox]) (*raftpb.Message, error) {
	if m, ok := fastDecodeMessage(b, boxes); ok {
		return m, nil
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

func fastDecodeMessage(b []byte, boxes *slabChunk[messageBox]) (*raftpb.Message, bool) {
	entries, byteLen, ok := scanMessage(b)
	if !ok {
		return nil, false
	}
	var d slabs
	box := newMessageSlabs(entries, byteLen, &d, boxes)
	if !d.fillMessage(box, b) {
		return nil, false
	}
	if entries > 0 {
		box.msg.Entries = d.ptrs
	}
	return &box.msg, true
}

// decodeEntries decodes each of spans, an entry's protobuf bytes, into d,
// which has room for them.
func (d *slabs) decodeEntries(spans [][]byte) error {
	for i, b := range spans {
		d.own = d.ownFrom > 0 && len(b) >= d.ownFrom
		if d.addEntry(b) {
			d.ptrs[i] = &d.entries[len(d.entries)-1].entry
			continue
		}
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(b, e); err != nil {
			return err
		}
		d.ptrs[i] = e
	}
	return nil
}

// isMessageVarint reports whether num is a varint field of Message.
func isMessageVarint(num protowire.Number) bool {
	return (num >= 1 && num <= 6) || num == 8 || num == 10 || num == 11 || num == 13
}

// scanMessage checks that every top-level field is one the fast decoder
// handles and counts the entries and the bytes byte fields need.
func scanMessage(b []byte) (entries, byteLen int, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, 0, false
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && isMessageVarint(num):
			_, n = protowire.ConsumeVarint(b)
		case typ == protowire.BytesType && (num == 7 || num == 12):
			var v []byte
			v, n = protowire.ConsumeBytes(b)
			byteLen += len(v)
			if num == 7 {
				entries++
			}
		default:
			return 0, 0, false
		}
		if n < 0 {
			return 0, 0, false
		}
		b = b[n:]
	}
	return entries, byteLen, true
}

// slabs hands out the shared backing memory of one decoded message.
type slabs struct {
	bytes   []byte
	entries []entryBox
	// ptrs is the message's Entries slice, filled in entry order.
	ptrs []*raftpb.Entry
	// alias makes byte fields point into the input instead of copies;
	// set only when the input buffer belongs to the message.
	alias bool
	// ownFrom, when set, is the entry size from which decodeEntries gives
	// an entry's Data an allocation of its own; the slab has no room
	// reserved for such entries. own is set while decoding one of them,
	// or throughout for a single entry too large to inline.
	ownFrom int
	own     bool
}

// copyBytes copies v into the byte slab. The result is never nil (an empty
// field is present) and its capacity ends at its length, so appending to
// it cannot overwrite a neighbour.
func (d *slabs) copyBytes(v []byte) []byte {
	if d.alias {
		return v[:len(v):len(v)]
	}
	if d.own && len(v) > 0 {
		// append, unlike make, does not zero what it is about to fill.
		b := append([]byte(nil), v...)
		return b[:len(b):len(b)]
	}
	start := len(d.bytes)
	d.bytes = append(d.bytes, v...)
	return d.bytes[start:len(d.bytes):len(d.bytes)]
}

// fillMessage decodes b, already checked by scanMessage, into box.
func (d *slabs) fillMessage(box *messageBox, b []byte) bool {
	for len(b) > 0 {
		num, _, n := protowire.ConsumeTag(b)
		b = b[n:]
		if num == 7 || num == 12 {
			v, n := protowire.ConsumeBytes(b)
			b = b[n:]
			if num == 12 {
				box.msg.Context = d.copyBytes(v)
				continue
			}
			if !d.addEntry(v) {
				return false
			}
			d.ptrs[len(d.entries)-1] = &d.entries[len(d.entries)-1].entry
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		b = b[n:]
		if !box.set(num, v) {
			return false
		}
	}
	return true
}

// set stores varint field num of the message.
func (box *messageBox) set(num protowire.Number, v uint64) bool {
	m := &box.msg
	switch num {
	case 1:
		if v > uint64(maxMessageType) {
			return false
		}
		box.typ, m.Type = raftpb.MessageType(v), &box.typ
	case 2:
		box.to, m.To = v, &box.to
	case 3:
		box.from, m.From = v, &box.from
	case 4:
		box.term, m.Term = v, &box.term
	case 5:
		box.logTerm, m.LogTerm = v, &box.logTerm
	case 6:
		box.index, m.Index = v, &box.index
	case 8:
		box.commit, m.Commit = v, &box.commit
	case 10:
		box.reject, m.Reject = protowire.DecodeBool(v), &box.reject
	case 11:
		box.rejectHint, m.RejectHint = v, &box.rejectHint
	case 13:
		box.vote, m.Vote = v, &box.vote
	}
	return true
}

// addEntry decodes one entry into the entry slab.
func (d *slabs) addEntry(b []byte) bool {
	f, ok := parseEntry(b)
	if !ok {
		return false
	}
	return d.placeEntry(&f)
}

// entryFields is an entry as parsed from its encoding, before it has a
// place in a slab.
type entryFields struct {
	typ                                 raftpb.EntryType
	term, index                         uint64
	data                                []byte
	hasType, hasTerm, hasIndex, hasData bool
}

// parseEntry parses an encoded entry, reporting false for anything the
// fast decoder leaves to proto. data aliases b.
func parseEntry(b []byte) (f entryFields, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return f, false
		}
		b = b[n:]
		if num == 4 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return f, false
			}
			b, f.data, f.hasData = b[n:], v, true
			continue
		}
		if typ != protowire.VarintType {
			return f, false
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 || !f.set(num, v) {
			return f, false
		}
		b = b[n:]
	}
	return f, true
}

// set records varint field num of the entry.
func (f *entryFields) set(num protowire.Number, v uint64) bool {
	switch num {
	case 1:
		if v > uint64(maxEntryType) {
			return false
		}
		f.typ, f.hasType = raftpb.EntryType(v), true
	case 2:
		f.term, f.hasTerm = v, true
	case 3:
		f.index, f.hasIndex = v, true
	default:
		return false
	}
	return true
}

// placeEntry stores f as the next entry of the slab, copying its data.
func (d *slabs) placeEntry(f *entryFields) bool {
	// The slab is zeroed and sized for every entry: extend it rather than
	// append a zero entry, which would copy it in under write barriers.
	if len(d.entries) == cap(d.entries) {
		return false // cannot happen; the caller falls back to proto
	}
	d.entries = d.entries[:len(d.entries)+1]
	eb := &d.entries[len(d.entries)-1]
	eb.typ, eb.term, eb.index = f.typ, f.term, f.index
	e := &eb.entry
	if f.hasType {
		e.Type = &eb.typ
	}
	if f.hasTerm {
		e.Term = &eb.term
	}
	if f.hasIndex {
		e.Index = &eb.index
	}
	if f.hasData {
		e.Data = d.copyBytes(f.data)
	}
	return true
}
