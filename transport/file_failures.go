package transport

import (
	"sync"

	"go.uber.org/zap"
)

// fileFailures logs a file that cannot be used once per cause. Peers redial
// several times a second and every handshake consults the file again, so
// logging each failure would flood the log with one cause; the listener's
// rate-limited log and the rejection metric still see every handshake.
type fileFailures struct {
	lg  *zap.Logger
	msg string
	// file names the file in the log line.
	file zap.Field

	mu   sync.Mutex
	last string // guarded by mu: the cause logged last; empty once the file works
}

func newFileFailures(lg *zap.Logger, msg, key, path string) *fileFailures {
	return &fileFailures{lg: lg, msg: msg, file: zap.String(key, path)}
}

// failed logs err unless it is the cause logged last.
func (f *fileFailures) failed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err.Error() == f.last {
		return
	}
	f.last = err.Error()
	f.lg.Warn(f.msg, f.file, zap.Error(err))
}

// worked notes that the file was used, so its next failure is logged.
func (f *fileFailures) worked() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = ""
}
