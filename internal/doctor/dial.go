package doctor

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"
)

// hostPort returns the address to dial for a peer URL; a URL without a
// port uses the scheme's default.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// connect opens a TCP connection to addr, timing it and classifying a
// failure so the verdict can name it.
func connect(ctx context.Context, addr string, timeout time.Duration) (net.Conn, TCPResult) {
	res := TCPResult{Address: addr}
	d := net.Dialer{Timeout: timeout}
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		res.Failure, res.Error = classifyDial(err), err.Error()
		return nil, res
	}
	res.ConnectMS = ms(time.Since(start))
	return conn, res
}

// classifyDial tells refused, timeout and DNS failures apart.
func classifyDial(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout"
	default:
		return "error"
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ms converts a duration to fractional milliseconds for reports.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
