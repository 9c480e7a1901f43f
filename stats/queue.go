package stats

import "time"

// rateWindow is how many recent requests the rate estimate averages over.
const rateWindow = 200

// rateStaleAfter is how old the newest sample may be before the rate is
// reported as zero: a server that stopped sending has no current rate.
const rateStaleAfter = time.Second

// RequestStats records one append request: when it was sent or received
// and its size in bytes.
type RequestStats struct {
	SendingTime time.Time
	Size        int
}

// rateQueue is a fixed-size ring of the most recent requests. It has no lock
// of its own: ServerStats guards it with its mutex. Its zero value is empty
// and ready to use.
type rateQueue struct {
	items [rateWindow]RequestStats
	head  int // index of the oldest sample
	n     int // number of samples held
	bytes int // total Size of the held samples
}

// insert records r, evicting the oldest sample when the ring is full.
func (q *rateQueue) insert(r RequestStats) {
	if q.n == rateWindow {
		q.bytes -= q.items[q.head].Size
		q.head = (q.head + 1) % rateWindow
		q.n--
	}
	q.items[(q.head+q.n)%rateWindow] = r
	q.n++
	q.bytes += r.Size
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
	oldest := q.items[q.head].SendingTime
	newest := q.items[(q.head+q.n-1)%rateWindow].SendingTime
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
