package rafthttp

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
)

// snapSum is a checksum the snapshot extension carries end to end. The
// sender names the one it wants in its offer, and the receiver's answer
// names the one it agrees to; a side that names none means SHA-256, the
// extension's first checksum, so Transports from before CRC-32C still
// verify and resume with ours, with SHA-256.
//
// A sender asks for CRC-32C. SHA-256 costs about as much CPU as moving the
// bytes (~1.3 GB/s per core with SHA-NI), once on each side, and on a
// small host that halves the transfer rate; CRC-32C runs at ~10 GB/s. What
// the checksum is for is accidental damage, after TCP's own 16-bit
// checksum has let it through: a flipped bit on a bad NIC, a torn or
// misplaced write, a resumed prefix that is not the DB's. CRC-32C catches
// every error of up to 32 consecutive bits and any other with probability
// 1 - 2^-32, as storage systems (iSCSI, ext4 metadata, TiKV's and
// dragonboat's snapshots) rely on. Neither checksum authenticates:
// whoever can change the bytes can recompute either; TLS is what protects
// against that.
type snapSum uint8

const (
	// snapSumSHA256 is the zero value: what a peer that names no checksum
	// means.
	snapSumSHA256 snapSum = iota
	// snapSumCRC32C is the Castagnoli CRC-32, hardware-accelerated on amd64
	// (SSE 4.2) and arm64.
	snapSumCRC32C
)

// String is the checksum's name in hdrSnapChecksum.
func (s snapSum) String() string {
	if s == snapSumCRC32C {
		return "crc32c"
	}
	return "sha256"
}

// parseSnapSum reads a hdrSnapChecksum value; "" means SHA-256.
func parseSnapSum(v string) (snapSum, bool) {
	switch v {
	case "", "sha256":
		return snapSumSHA256, true
	case "crc32c":
		return snapSumCRC32C, true
	}
	return snapSumSHA256, false
}

// newHash returns a hash computing the checksum.
func (s snapSum) newHash() hash.Hash {
	if s == snapSumCRC32C {
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	}
	return sha256.New()
}

// prefixHeader names the header of an offer's answer that carries the
// checksum of the bytes held.
func (s snapSum) prefixHeader() string {
	if s == snapSumCRC32C {
		return hdrSnapPrefixCRC32C
	}
	return hdrSnapPrefix
}

// trailer names the trailer of an extended POST that carries the whole
// DB's checksum.
func (s snapSum) trailer() string {
	if s == snapSumCRC32C {
		return hdrSnapSumCRC32C
	}
	return hdrSnapSum
}

// format renders a checksum as it travels: hex, as the hash's Sum gives it
// (big-endian for the CRC).
func (s snapSum) format(sum []byte) string { return hex.EncodeToString(sum) }

// parse reads a checksum in hex.
func (s snapSum) parse(v string) ([]byte, error) {
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != s.newHash().Size() {
		return nil, fmt.Errorf("%w: %s checksum %q", errSnapExtHeader, s, v)
	}
	return b, nil
}

// restore rebuilds the hash from a state saved with MarshalBinary.
func (s snapSum) restore(state []byte) (hash.Hash, error) {
	h := s.newHash()
	return h, h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
}

// sumOfState is the checksum of the bytes hashed into a saved state, or
// nil if the state is not one.
func (s snapSum) sumOfState(state []byte) []byte {
	h, err := s.restore(state)
	if err != nil {
		return nil
	}
	return h.Sum(nil)
}
