package rafthttp

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Snapshot extension: integrity, resume and keep-alives between two
// rafthttp Transports. It is negotiated per transfer, so an etcd peer sees
// only what etcd would send it (docs/snapshots.md):
//
//  1. The sender asks GET snapshotOfferPath with the usual protocol
//     headers and hdrSnapExt, hdrSnapIndex, hdrSnapTerm, hdrSnapSize, and
//     hdrSnapChecksum: the checksum it wants (snapSum; without it,
//     SHA-256). etcd answers 404 (its mux has no such path), and so does
//     a rafthttp without the extension; any answer but 200 with
//     hdrSnapExt makes the sender fall back to etcd's plain POST.
//  2. A rafthttp receiver answers 200 with hdrSnapExt, hdrSnapChecksum if
//     it agrees to the one asked for (without it, SHA-256), hdrSnapOffset
//     (the bytes of that DB it holds from a cut transfer, often 0) and,
//     when non-zero, the checksum of those bytes in the checksum's prefix
//     header (hdrSnapPrefix for SHA-256, hdrSnapPrefixCRC32C).
//  3. The sender checksums its first offset bytes; if they match it POSTs
//     RaftSnapshotPrefix with etcd's headers plus hdrSnapExt,
//     hdrSnapChecksum (when not SHA-256), hdrSnapSize and hdrSnapOffset, a
//     body of the envelope followed by DB[offset:], and the whole DB's
//     checksum in hex in the checksum's trailer (hdrSnapSum for SHA-256,
//     hdrSnapSumCRC32C).
//  4. While it syncs and installs the DB, the receiver sends
//     "102 Processing" every third of its stall timeout, so the sender
//     knows it is alive; then 204, or an error status as for etcd's POST
//     (409 when it no longer holds the offset the sender resumes from).
const (
	snapshotOfferPath = RaftSnapshotPrefix + "/offer"

	hdrSnapExt      = "X-Rafthttp-Snapshot"
	hdrSnapIndex    = "X-Rafthttp-Snapshot-Index"
	hdrSnapTerm     = "X-Rafthttp-Snapshot-Term"
	hdrSnapSize     = "X-Rafthttp-Snapshot-Size"
	hdrSnapOffset   = "X-Rafthttp-Snapshot-Offset"
	hdrSnapChecksum = "X-Rafthttp-Snapshot-Checksum"

	hdrSnapPrefix       = "X-Rafthttp-Snapshot-Prefix-Sha256"
	hdrSnapSum          = "X-Rafthttp-Snapshot-Sha256"
	hdrSnapPrefixCRC32C = "X-Rafthttp-Snapshot-Prefix-Crc32c"
	hdrSnapSumCRC32C    = "X-Rafthttp-Snapshot-Crc32c"

	// snapExtVersion is the only version of the extension so far; the
	// checksum is negotiated within it.
	snapExtVersion = "1"
)

var (
	errSnapExtHeader   = errors.New("rafthttp: malformed snapshot extension header")
	errSnapChecksum    = errors.New("rafthttp: snapshot checksum mismatch")
	errSnapResumeGone  = errors.New("rafthttp: snapshot resume offset not held")
	errSnapPrefixDiffs = errors.New("rafthttp: held snapshot prefix differs from the DB; next attempt starts over")
)

// snapOffer is what a sender says of the DB it is about to send, and the
// checksum it wants for it.
type snapOffer struct {
	index, term uint64
	size        int64
	sum         snapSum
}

// setHeaders writes o onto h.
func (o snapOffer) setHeaders(h http.Header) {
	h.Set(hdrSnapExt, snapExtVersion)
	h.Set(hdrSnapIndex, strconv.FormatUint(o.index, 10))
	h.Set(hdrSnapTerm, strconv.FormatUint(o.term, 10))
	h.Set(hdrSnapSize, strconv.FormatInt(o.size, 10))
	setSnapSum(h, o.sum)
}

// setSnapSum names sum in h, unless it is SHA-256, which goes without
// saying (and so reads the same to a peer that predates the header).
func setSnapSum(h http.Header, sum snapSum) {
	if sum != snapSumSHA256 {
		h.Set(hdrSnapChecksum, sum.String())
	}
}

// parseSnapOffer reads an offer's headers.
func parseSnapOffer(h http.Header) (snapOffer, error) {
	if h.Get(hdrSnapExt) != snapExtVersion {
		return snapOffer{}, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapExt)
	}
	index, err := parseDecimal(h, hdrSnapIndex)
	if err != nil {
		return snapOffer{}, err
	}
	term, err := parseDecimal(h, hdrSnapTerm)
	if err != nil {
		return snapOffer{}, err
	}
	size, err := parseDecimal(h, hdrSnapSize)
	if err != nil {
		return snapOffer{}, err
	}
	// A checksum we do not know is answered as a receiver that knows
	// none answers: with SHA-256.
	sum, _ := parseSnapSum(h.Get(hdrSnapChecksum))
	return snapOffer{index: index, term: term, size: int64(size), sum: sum}, nil
}

// snapHeld is what a receiver holds of an offered DB, and the checksum it
// agreed to.
type snapHeld struct {
	offset int64
	prefix []byte // checksum of the first offset bytes; nil when offset is 0
	sum    snapSum
}

func (s snapHeld) setHeaders(h http.Header) {
	h.Set(hdrSnapExt, snapExtVersion)
	setSnapSum(h, s.sum)
	h.Set(hdrSnapOffset, strconv.FormatInt(s.offset, 10))
	if s.offset > 0 {
		h.Set(s.sum.prefixHeader(), s.sum.format(s.prefix))
	}
}

// parseSnapHeld reads a receiver's answer to offer o; ok is false when the
// answer is not the extension's (an etcd peer). The receiver may agree to
// o's checksum or to SHA-256, which every rafthttp receiver knows.
func parseSnapHeld(resp *http.Response, o snapOffer) (held snapHeld, ok bool, err error) {
	if resp.StatusCode != http.StatusOK || resp.Header.Get(hdrSnapExt) != snapExtVersion {
		return held, false, nil
	}
	sum, known := parseSnapSum(resp.Header.Get(hdrSnapChecksum))
	if !known || (sum != o.sum && sum != snapSumSHA256) {
		return held, true, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapChecksum)
	}
	held.sum = sum
	off, err := parseDecimal(resp.Header, hdrSnapOffset)
	if err != nil || int64(off) > o.size {
		return held, true, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapOffset)
	}
	held.offset = int64(off)
	if held.offset > 0 {
		if held.prefix, err = sum.parse(resp.Header.Get(sum.prefixHeader())); err != nil {
			return held, true, err
		}
	}
	return held, true, nil
}

// snapUpload is what an extended POST says of its body.
type snapUpload struct {
	size, offset int64
	sum          snapSum
}

// parseSnapUpload reads an extended POST's headers; ok is false for
// etcd's plain POST.
func parseSnapUpload(h http.Header) (u snapUpload, ok bool, err error) {
	if _, present := h[http.CanonicalHeaderKey(hdrSnapExt)]; !present {
		return u, false, nil
	}
	if h.Get(hdrSnapExt) != snapExtVersion {
		return u, true, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapExt)
	}
	sum, known := parseSnapSum(h.Get(hdrSnapChecksum))
	if !known {
		return u, true, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapChecksum)
	}
	size, err := parseDecimal(h, hdrSnapSize)
	if err != nil {
		return u, true, err
	}
	off, err := parseDecimal(h, hdrSnapOffset)
	if err != nil || off > size {
		return u, true, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapOffset)
	}
	return snapUpload{size: int64(size), offset: int64(off), sum: sum}, true, nil
}

// parseDecimal reads header k as a decimal number below 2^63.
func parseDecimal(h http.Header, k string) (uint64, error) {
	v, err := strconv.ParseUint(h.Get(k), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", errSnapExtHeader, k)
	}
	return v, nil
}
