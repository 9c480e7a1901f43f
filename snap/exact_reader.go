package snap

import (
	"bytes"
	"errors"
	"io"
)

var (
	// ErrNotSeekable is returned by a Message's ReadCloser when asked to
	// seek a body that cannot.
	ErrNotSeekable = errors.New("snap: body is not seekable")
	// ErrExpectEOF is returned by a Message's ReadCloser when its body holds
	// more bytes than the size given to NewMessage.
	ErrExpectEOF = errors.New("snap: expected EOF")
	// ErrShortRead is returned by a Message's ReadCloser when its body ends
	// before the size given to NewMessage.
	ErrShortRead = errors.New("snap: short read")
)

// exactReadCloser passes reads through to rc and fails unless rc yields
// exactly size bytes. It is not safe for concurrent reads, like most readers.
type exactReadCloser struct {
	rc    io.ReadCloser // never nil
	size  int64         // bytes promised by the sender
	count int64         // bytes seen so far
}

// newExactReadCloser wraps rc; a nil rc behaves as an empty body.
func newExactReadCloser(rc io.ReadCloser, size int64) *exactReadCloser {
	if rc == nil {
		rc = io.NopCloser(bytes.NewReader(nil))
	}
	return &exactReadCloser{rc: rc, size: size}
}

// Read returns ErrExpectEOF as soon as the body runs past size, and
// ErrShortRead if the body ends before size.
func (e *exactReadCloser) Read(p []byte) (int, error) {
	n, err := e.rc.Read(p)
	e.count += int64(n)
	if e.count > e.size {
		return n, ErrExpectEOF
	}
	if err == io.EOF && e.count < e.size {
		return n, ErrShortRead
	}
	return n, err
}

// Seek moves within the body when it is an io.Seeker (an *os.File, say),
// else fails with ErrNotSeekable. Offsets count from where the body stood
// when the Message was built, so a sender can rewind a DB it has partly
// read with Seek(0, io.SeekStart) without knowing the file's position.
// Only io.SeekStart is supported.
func (e *exactReadCloser) Seek(offset int64, whence int) (int64, error) {
	s, ok := e.rc.(io.Seeker)
	if !ok {
		return e.count, ErrNotSeekable
	}
	if whence != io.SeekStart || offset < 0 || offset > e.size {
		return e.count, errors.New("snap: unsupported seek")
	}
	if _, err := s.Seek(offset-e.count, io.SeekCurrent); err != nil {
		return e.count, err
	}
	e.count = offset
	return offset, nil
}

// Close closes the underlying body.
func (e *exactReadCloser) Close() error {
	return e.rc.Close()
}
