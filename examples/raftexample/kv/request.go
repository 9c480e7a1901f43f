package kv

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
)

// opPut tags the data of a normal raft entry that sets a key. Its layout:
//
//	offset  size    field
//	0       1       opPut
//	1       varint  request ID (unsigned LEB128), unique per proposal
//	        varint  key length
//	        k       key
//	        rest    value
const opPut byte = 1

// putRequest is a proposal to set key to value.
type putRequest struct {
	id    uint64
	key   string
	value []byte
}

func (r putRequest) marshal() []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(r.key)+len(r.value))
	b = append(b, opPut)
	b = binary.AppendUvarint(b, r.id)
	b = binary.AppendUvarint(b, uint64(len(r.key)))
	b = append(b, r.key...)
	return append(b, r.value...)
}

var errBadEntry = errors.New("kv: malformed entry")

func unmarshalPut(b []byte) (putRequest, error) {
	if len(b) == 0 || b[0] != opPut {
		return putRequest{}, errBadEntry
	}
	b = b[1:]
	id, n := binary.Uvarint(b)
	if n <= 0 {
		return putRequest{}, errBadEntry
	}
	b = b[n:]
	klen, n := binary.Uvarint(b)
	if n <= 0 || klen > uint64(len(b)-n) {
		return putRequest{}, errBadEntry
	}
	b = b[n:]
	return putRequest{id: id, key: string(b[:klen]), value: b[klen:]}, nil
}

// newRequestID returns a random nonzero ID. IDs only need to be unique
// among the proposals a member is waiting for.
func newRequestID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}
