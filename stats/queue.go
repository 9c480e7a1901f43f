package stats

import "time"

// rateWindow is how many recent requests the rate estimate averages over.
const rateWindow = 200

// rateStaleAfter is how old the newest sample may be before the rate is
// reported as zero: a server that stopped sending has no current rate.
const rateStaleAfter = time.Second

// RequestStats records one append request: when it was sent or received
// and its size in bytes. It is kept because etcd's v2stats exports it; the
// rate window stores groups of requests recorded together instead.
type RequestStats struct {
	SendingTime time.Time
	Size        int
}

// rateQueue holds the most recent rateWindow requests, as groups recorded
// at one instant: a Send call's MsgApps cost one entry, not one each. It
// has no lock of its own: ServerStats guards it with its mutex. Its zero
// value is empty and ready to use.
type rateQueue struct {
	groups [rateWindow]requestGroup // every group holds at least one request
	head   int                      // index of the oldest group
	len    int                      // number of groups held
	n      int                      // number of requests held
	bytes  int                      // total size of the requests held
}

// requestGroup is count requests recorded together. Their bytes are
// shared out evenly: each has share bytes, and the first extra one more.
type requestGroup struct {
	at                  time.Time
	count, share, extra int
}

// bytesOfFirst is the size of the group's first k requests.
func (g *requestGroup) bytesOfFirst(k int) int { return k*g.share + min(k, g.extra) }

// insert records one request of size bytes made at.
func (q *rateQueue) insert(at time.Time, size int) { q.insertN(at, 1, size) }

// insertN records count requests of totalBytes in all, made at, with the
// same result as inserting them one at a time with the bytes shared out
// evenly (the first totalBytes%count one byte larger).
func (q *rateQueue) insertN(at time.Time, count, totalBytes int) {
	if count < 1 {
		return
	}
	g := requestGroup{at: at, count: count, share: totalBytes / count, extra: totalBytes % count}
	if dropped := count - rateWindow; dropped > 0 {
		// Only the last rateWindow requests would stay.
		g.count, g.extra = rateWindow, max(0, g.extra-dropped)
	}
	q.evictOldest(q.n + g.count - rateWindow)
	q.groups[(q.head+q.len)%rateWindow] = g
	q.len++
	q.n += g.count
	q.bytes += g.bytesOfFirst(g.count)
}

// evictOldest drops the k oldest requests, if there are that many.
func (q *rateQueue) evictOldest(k int) {
	for k > 0 && q.len > 0 {
		g := &q.groups[q.head]
		drop := min(k, g.count)
		q.bytes -= g.bytesOfFirst(drop)
		q.n -= drop
		k -= drop
		g.count, g.extra = g.count-drop, max(0, g.extra-drop)
		if g.count == 0 {
			*g = requestGroup{}
			q.head = (q.head + 1) % rateWindow
			q.len--
		}
	}
}

// newest returns the time of the latest group, if any.
func (q *rateQueue) newest() (time.Time, bool) {
	if q.len == 0 {
		return time.Time{}, false
	}
	return q.groups[(q.head+q.len-1)%rateWindow].at, true
}

// clear drops every sample.
func (q *rateQueue) clear() {
	*q = rateQueue{}
}

// rate returns requests per second and bytes per second over the held
// samples. It returns zeros, and clears the ring, when the newest sample is
// older than rateStaleAfter at now; it also returns zeros when the samples
// span no time (fewer than two, or all at one instant).
func (q *rateQueue) rate(now time.Time) (pkgRate, byteRate float64) {
	if q.n == 0 {
		return 0, 0
	}
	oldest := q.groups[q.head].at
	newest := q.groups[(q.head+q.len-1)%rateWindow].at
	if now.Sub(newest) > rateStaleAfter {
		q.clear()
		return 0, 0
	}
	span := newest.Sub(oldest).Seconds()
	if span <= 0 {
		return 0, 0
	}
	return float64(q.n) / span, float64(q.bytes) / span
}
