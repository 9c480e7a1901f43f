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
//     hdrSnapChecksum naming the checksum (snapSumName, CRC-32C). etcd
//     answers 404 (its mux has no such path), and so does a rafthttp
//     without the extension; any answer but 200 with hdrSnapExt and
//     hdrSnapChecksum naming CRC-32C makes the sender fall back to etcd's
//     plain POST. A receiver answers an offer of another checksum 400.
//  2. A rafthttp receiver answers 200 with hdrSnapExt, hdrSnapChecksum,
//     hdrSnapOffset (the bytes of that DB it holds from a cut transfer,
//     often 0) and, when non-zero, the CRC-32C of those bytes in
//     hdrSnapPrefix.
//  3. The sender checksums its first offset bytes; if they match it POSTs
//     RaftSnapshotPrefix with etcd's headers plus hdrSnapExt,
//     hdrSnapChecksum, hdrSnapSize and hdrSnapOffset, a body of the
//     envelope followed by DB[offset:], and the whole DB's CRC-32C in hex
//     in the trailer hdrSnapSum. An extended POST that names no checksum
//     or another is answered 400 and leaves nothing behind.
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

	hdrSnapPrefix = "X-Rafthttp-Snapshot-Prefix-Crc32c"
	hdrSnapSum    = "X-Rafthttp-Snapshot-Crc32c"

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

// snapOffer is what a sender says of the DB it is about to send.
type snapOffer struct {
	index, term uint64
	size        int64
}

// setHeaders writes o onto h.
func (o snapOffer) setHeaders(h http.Header) {
	h.Set(hdrSnapExt, snapExtVersion)
	h.Set(hdrSnapIndex, strconv.FormatUint(o.index, 10))
	h.Set(hdrSnapTerm, strconv.FormatUint(o.term, 10))
	h.Set(hdrSnapSize, strconv.FormatInt(o.size, 10))
	h.Set(hdrSnapChecksum, snapSumName)
}

// checkSnapSum fails unless h names the extension's checksum.
func checkSnapSum(h http.Header) error {
	if h.Get(hdrSnapChecksum) != snapSumName {
		return fmt.Errorf("%w: %s %q", errSnapExtHeader, hdrSnapChecksum, h.Get(hdrSnapChecksum))
	}
	return nil
}

// parseSnapOffer reads an offer's headers.
func parseSnapOffer(h http.Header) (snapOffer, error) {
	if h.Get(hdrSnapExt) != snapExtVersion {
		return snapOffer{}, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapExt)
	}
	if err := checkSnapSum(h); err != nil {
		return snapOffer{}, err
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
	return snapOffer{index: index, term: term, size: int64(size)}, nil
}

// snapHeld is what a receiver holds of an offered DB.
type snapHeld struct {
	offset int64
	prefix []byte // checksum of the first offset bytes; nil when offset is 0
}

func (s snapHeld) setHeaders(h http.Header) {
	h.Set(hdrSnapExt, snapExtVersion)
	h.Set(hdrSnapChecksum, snapSumName)
	h.Set(hdrSnapOffset, strconv.FormatInt(s.offset, 10))
	if s.offset > 0 {
		h.Set(hdrSnapPrefix, formatSnapSum(s.prefix))
	}
}

// parseSnapHeld reads a receiver's answer to offer o; ok is false when the
// answer is not the extension's (an etcd peer). An answer that names no
// checksum or one other than CRC-32C is an error: the caller sends as etcd
// does, as for an etcd peer.
func parseSnapHeld(resp *http.Response, o snapOffer) (held snapHeld, ok bool, err error) {
	if resp.StatusCode != http.StatusOK || resp.Header.Get(hdrSnapExt) != snapExtVersion {
		return held, false, nil
	}
	if err := checkSnapSum(resp.Header); err != nil {
		return held, true, err
	}
	off, err := parseDecimal(resp.Header, hdrSnapOffset)
	if err != nil || int64(off) > o.size {
		return held, true, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapOffset)
	}
	held.offset = int64(off)
	if held.offset > 0 {
		if held.prefix, err = parseSnapSum(resp.Header.Get(hdrSnapPrefix)); err != nil {
			return held, true, err
		}
	}
	return held, true, nil
}

// snapUpload is what an extended POST says of its body.
type snapUpload struct {
	size, offset int64
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
	if err := checkSnapSum(h); err != nil {
		return u, true, err
	}
	size, err := parseDecimal(h, hdrSnapSize)
	if err != nil {
		return u, true, err
	}
	off, err := parseDecimal(h, hdrSnapOffset)
	if err != nil || off > size {
		return u, true, fmt.Errorf("%w: %s", errSnapExtHeader, hdrSnapOffset)
	}
	return snapUpload{size: int64(size), offset: int64(off)}, true, nil
}

// parseDecimal reads header k as a decimal number below 2^63.
func parseDecimal(h http.Header, k string) (uint64, error) {
	v, err := strconv.ParseUint(h.Get(k), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", errSnapExtHeader, k)
	}
	return v, nil
}
