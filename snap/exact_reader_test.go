package snap

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// A Message's body rewinds when what it wraps can seek, relative to where
// that stood when the Message was built, and refuses otherwise.
func TestMessageBodySeek(t *testing.T) {
	p := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(p, []byte("headerDATABASE"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(6, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	m := NewMessage(nil, f, 8)
	first := make([]byte, 4)
	if _, err := io.ReadFull(m.ReadCloser, first); err != nil || string(first) != "DATA" {
		t.Fatalf("read %q, %v", first, err)
	}
	if pos, err := m.ReadCloser.(io.Seeker).Seek(0, io.SeekStart); err != nil || pos != 0 {
		t.Fatalf("Seek(0) = %d, %v", pos, err)
	}
	all, err := io.ReadAll(m.ReadCloser)
	if err != nil || string(all) != "DATABASE" {
		t.Errorf("after rewinding read %q, %v; want the whole body", all, err)
	}
	m.CloseWithError(nil)

	plain := NewMessage(nil, io.NopCloser(bytes.NewBufferString("DATABASE")), 8)
	if _, err := plain.ReadCloser.(io.Seeker).Seek(0, io.SeekStart); !errors.Is(err, ErrNotSeekable) {
		t.Errorf("Seek on a non-seekable body = %v, want ErrNotSeekable", err)
	}
}
