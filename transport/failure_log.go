package transport

import (
	"crypto/tls"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Handshake failures logged per listener: a burst, then one a second.
const (
	failureLogBurst    = 10
	failureLogInterval = time.Second
)

// failureLog logs rejected connections at a bounded rate, so a port
// scanner or a misconfigured peer retrying in a loop cannot flood the log.
// Lines it drops are counted and reported on the next line it writes.
type failureLog struct {
	lg         *zap.Logger
	limit      *rate.Limiter
	suppressed atomic.Uint64
}

func newFailureLog(lg *zap.Logger) *failureLog {
	return &failureLog{lg: lg, limit: rate.NewLimiter(rate.Every(failureLogInterval), failureLogBurst)}
}

// log reports conn's failure. A client that closed without a word (io.EOF:
// a health check or a port scan) is logged at Debug, outside the limit.
func (f *failureLog) log(conn *tls.Conn, err error) {
	fields := []zap.Field{
		zap.String("remote-addr", conn.RemoteAddr().String()),
		zap.String("server-name", conn.ConnectionState().ServerName),
		zap.Error(err),
	}
	if leaf := peerLeaf(conn); leaf != nil {
		fields = append(fields, zap.String("subject", leaf.Subject.String()),
			zap.Strings("dns-names", leaf.DNSNames), zap.Any("ip-addresses", leaf.IPAddresses))
	}
	if errors.Is(err, io.EOF) {
		f.lg.Debug("rejected connection on peer listener", fields...)
		return
	}
	if !f.limit.Allow() {
		f.suppressed.Add(1)
		return
	}
	if n := f.suppressed.Swap(0); n > 0 {
		fields = append(fields, zap.Uint64("suppressed-since-last", n))
	}
	f.lg.Warn("rejected connection on peer listener", fields...)
}
