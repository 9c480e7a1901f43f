package rafthttp

import (
	"encoding/binary"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A hand-written protobuf encoder for the messages raft sends most. It
// writes exactly the bytes proto.Marshal writes — set fields only, in field
// number order — without reflection or allocation. Anything it does not
// cover (snapshots, nested responses, unknown fields, nil entries) goes
// through proto.Marshal, so the output never differs.
//
// raftpb.Message field numbers:
//
//	1 type  2 to  3 from  4 term  5 logTerm  6 index  7 entries
//	8 commit  9 snapshot  10 reject  11 rejectHint  12 context  13 vote
//	14 responses
//
// raftpb.Entry: 1 Type  2 Term  3 Index  4 Data.

// fastEncodable reports whether appendMessage can encode m by hand.
func fastEncodable(m *raftpb.Message) bool {
	if m.Snapshot != nil || len(m.Responses) > 0 || len(m.ProtoReflect().GetUnknown()) > 0 {
		return false
	}
	for _, e := range m.Entries {
		if e == nil || len(e.ProtoReflect().GetUnknown()) > 0 {
			return false
		}
	}
	return true
}

// messageSize is proto.Size(m).
func messageSize(m *raftpb.Message) int {
	if !fastEncodable(m) {
		return proto.Size(m)
	}
	return fastMessageSize(m)
}

// appStatsSize is messageSize(m) for a MsgApp that an encoder has just
// written as encoded bytes of message (lastSize): a msgappv2 record holds
// every field raft sets on a MsgApp, so only a message with any other
// field set needs sizing again.
func appStatsSize(m *raftpb.Message, encoded int) int {
	if m.Reject != nil || m.RejectHint != nil || m.Context != nil || m.Vote != nil ||
		m.Snapshot != nil || len(m.Responses) > 0 || len(m.ProtoReflect().GetUnknown()) > 0 {
		return messageSize(m)
	}
	return encoded
}

func fastMessageSize(m *raftpb.Message) int {
	n := optVarintSize(m.Type != nil, uint64(int64(m.GetType()))) +
		optUint64Size(m.To) + optUint64Size(m.From) + optUint64Size(m.Term) +
		optUint64Size(m.LogTerm) + optUint64Size(m.Index)
	for _, e := range m.Entries {
		n += lengthDelimitedSize(entrySize(e))
	}
	n += optUint64Size(m.Commit) + optVarintSize(m.Reject != nil, 1)
	if m.Context != nil {
		n += lengthDelimitedSize(len(m.Context))
	}
	return n + optUint64Size(m.RejectHint) + optUint64Size(m.Vote)
}

// entrySize is proto.Size(e) for an entry without unknown fields.
func entrySize(e *raftpb.Entry) int {
	n := optVarintSize(e.Type != nil, uint64(int64(e.GetType()))) +
		optUint64Size(e.Term) + optUint64Size(e.Index)
	if e.Data != nil {
		n += lengthDelimitedSize(len(e.Data))
	}
	return n
}

// Every field number here is below 16, so every tag is one byte.
func optUint64Size(v *uint64) int {
	if v == nil {
		return 0
	}
	return 1 + protowire.SizeVarint(*v)
}

func optVarintSize(present bool, v uint64) int {
	if !present {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

func lengthDelimitedSize(n int) int {
	return 1 + protowire.SizeVarint(uint64(n)) + n
}

// appendMessage appends m's protobuf encoding to dst.
func appendMessage(dst []byte, m *raftpb.Message) ([]byte, error) {
	if !fastEncodable(m) {
		return proto.MarshalOptions{}.MarshalAppend(dst, m)
	}
	if m.Type != nil {
		dst = appendVarintField(dst, 1, uint64(int64(*m.Type)))
	}
	dst = appendOptUint64(dst, 2, m.To)
	dst = appendOptUint64(dst, 3, m.From)
	dst = appendOptUint64(dst, 4, m.Term)
	dst = appendOptUint64(dst, 5, m.LogTerm)
	dst = appendOptUint64(dst, 6, m.Index)
	for _, e := range m.Entries {
		dst = protowire.AppendTag(dst, 7, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(entrySize(e)))
		dst = appendEntry(dst, e)
	}
	dst = appendOptUint64(dst, 8, m.Commit)
	if m.Reject != nil {
		dst = appendVarintField(dst, 10, protowire.EncodeBool(*m.Reject))
	}
	dst = appendOptUint64(dst, 11, m.RejectHint)
	if m.Context != nil {
		dst = protowire.AppendTag(dst, 12, protowire.BytesType)
		dst = protowire.AppendBytes(dst, m.Context)
	}
	return appendOptUint64(dst, 13, m.Vote), nil
}

// appendEntry appends e's protobuf encoding; e has no unknown fields.
func appendEntry(dst []byte, e *raftpb.Entry) []byte {
	return append(appendEntryHead(dst, e), e.Data...)
}

// appendEntryHead appends e's encoding up to the bytes of Data, its last
// field: everything when Data is nil, else up to Data's length.
func appendEntryHead(dst []byte, e *raftpb.Entry) []byte {
	if e.Type != nil {
		dst = appendVarintField(dst, 1, uint64(int64(*e.Type)))
	}
	dst = appendOptUint64(dst, 2, e.Term)
	dst = appendOptUint64(dst, 3, e.Index)
	if e.Data != nil {
		dst = protowire.AppendTag(dst, 4, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(len(e.Data)))
	}
	return dst
}

func appendOptUint64(dst []byte, num protowire.Number, v *uint64) []byte {
	if v == nil {
		return dst
	}
	return appendVarintField(dst, num, *v)
}

func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(dst, num, protowire.VarintType), v)
}

// appendEntryRecord appends one msgappv2 entry: BE64 size, then the entry.
func appendEntryRecord(dst []byte, e *raftpb.Entry) ([]byte, error) {
	if e == nil || len(e.ProtoReflect().GetUnknown()) > 0 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(proto.Size(e)))
		return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(dst, e) // size just computed
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(entrySize(e)))
	return appendEntry(dst, e), nil
}
