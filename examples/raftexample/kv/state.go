package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"sync"
)

// stateMachine is the replicated state: the key-value map and the cluster
// membership. The run loop changes it; HTTP handlers read it.
type stateMachine struct {
	mu      sync.RWMutex
	kv      map[string][]byte
	members map[uint64]string // member ID → peer URL
	removed map[uint64]bool   // IDs removed from the cluster; never reused
}

func newStateMachine() *stateMachine {
	return &stateMachine{kv: map[string][]byte{}, members: map[uint64]string{}, removed: map[uint64]bool{}}
}

func (s *stateMachine) get(key string) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.kv[key]
	return v, ok
}

func (s *stateMachine) put(key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kv[key] = value
}

func (s *stateMachine) keys() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.kv)
}

// member returns a member's peer URL.
func (s *stateMachine) member(id uint64) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.members[id]
	return u, ok
}

// memberIDs returns the members' IDs in ascending order.
func (s *stateMachine) memberIDs() []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.members))
}

// removedIDs returns the IDs removed from the cluster.
func (s *stateMachine) removedIDs() []uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Collect(maps.Keys(s.removed))
}

// isRemoved reports whether id was removed from the cluster.
func (s *stateMachine) isRemoved(id uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.removed[id]
}

// urlOwner returns the member using peer URL u, or 0.
func (s *stateMachine) urlOwner(u string) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, m := range s.members {
		if m == u {
			return id
		}
	}
	return 0
}

func (s *stateMachine) addMember(id uint64, u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[id] = u
}

func (s *stateMachine) removeMember(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.members, id)
	s.removed[id] = true
}

// replace swaps in the state decoded from a snapshot.
func (s *stateMachine) replace(o *stateMachine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kv, s.members, s.removed = o.kv, o.members, o.removed
}

// The snapshot file ("DB") layout. Integers are unsigned LEB128 varints;
// strings are a varint length then the bytes:
//
//	"RXKV1\n"
//	count, then count × (member ID, peer URL)
//	count, then count × removed ID
//	count, then count × (key, value), keys in ascending order
//	CRC-32C of everything above, 4 bytes little-endian
const stateMagic = "RXKV1\n"

// encodedState returns the state in the snapshot layout.
func (s *stateMachine) encodedState() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := []byte(stateMagic)
	b = binary.AppendUvarint(b, uint64(len(s.members)))
	for _, id := range slices.Sorted(maps.Keys(s.members)) {
		b = appendString(binary.AppendUvarint(b, id), []byte(s.members[id]))
	}
	b = binary.AppendUvarint(b, uint64(len(s.removed)))
	for _, id := range slices.Sorted(maps.Keys(s.removed)) {
		b = binary.AppendUvarint(b, id)
	}
	b = binary.AppendUvarint(b, uint64(len(s.kv)))
	for _, k := range slices.Sorted(maps.Keys(s.kv)) {
		b = appendString(appendString(b, []byte(k)), s.kv[k])
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable()))
}

// appendString appends v's length as a varint, then v.
func appendString(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// errBadSnapshot is wrapped by decodeState for a damaged snapshot file.
var errBadSnapshot = errors.New("kv: malformed snapshot")

// decodeState reads a state written by encode, checking its CRC.
func decodeState(r io.Reader) (*stateMachine, error) {
	br := bufio.NewReader(r)
	d := &decoder{r: &hashReader{r: br, h: crc32.New(crcTable())}}
	s := newStateMachine()
	if magic := d.raw(len(stateMagic)); d.err == nil && string(magic) != stateMagic {
		return nil, fmt.Errorf("%w: bad magic %q", errBadSnapshot, magic)
	}
	for n := d.uint(); d.err == nil && n > 0; n-- {
		id, u := d.uint(), d.bytes(maxURLBytes)
		s.members[id] = string(u)
	}
	for n := d.uint(); d.err == nil && n > 0; n-- {
		s.removed[d.uint()] = true
	}
	for n := d.uint(); d.err == nil && n > 0; n-- {
		k, v := d.bytes(MaxKeyBytes), d.bytes(MaxValueBytes)
		s.kv[string(k)] = v
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %w", errBadSnapshot, d.err)
	}
	if err := checkTrailer(br, d.r.h.Sum32()); err != nil {
		return nil, err
	}
	return s, nil
}

// checkTrailer reads the CRC that ends a snapshot and anything after it.
func checkTrailer(r io.Reader, sum uint32) error {
	rest, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	if len(rest) != 4 {
		return fmt.Errorf("%w: %d bytes after the data, want a 4-byte checksum", errBadSnapshot, len(rest))
	}
	if binary.LittleEndian.Uint32(rest) != sum {
		return fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	return nil
}

// decoder reads varints and bounded strings, keeping the first error.
type decoder struct {
	r   *hashReader
	err error
}

// hashReader hashes exactly the bytes its reader consumes.
type hashReader struct {
	r   *bufio.Reader
	h   hash.Hash32
	one [1]byte
}

func (h *hashReader) ReadByte() (byte, error) {
	b, err := h.r.ReadByte()
	if err == nil {
		h.one[0] = b
		_, _ = h.h.Write(h.one[:]) // hash.Hash never fails
	}
	return b, err
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	_, _ = h.h.Write(p[:n])
	return n, err
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	v, d.err = binary.ReadUvarint(d.r)
	return v
}

func (d *decoder) raw(n int) []byte {
	if d.err != nil {
		return nil
	}
	b := make([]byte, n)
	_, d.err = io.ReadFull(d.r, b)
	return b
}

func (d *decoder) bytes(limit int) []byte {
	n := d.uint()
	if d.err == nil && n > uint64(limit) {
		d.err = fmt.Errorf("length %d exceeds %d", n, limit)
	}
	return d.raw(int(n))
}
