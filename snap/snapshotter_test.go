package snap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var errRead = errors.New("reader broke")

// failingReader yields `after` bytes of data and then fails.
type failingReader struct {
	after int
	sent  int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.sent >= r.after {
		return 0, errRead
	}
	n := min(len(p), r.after-r.sent)
	for i := range n {
		p[i] = 'x'
	}
	r.sent += n
	return n, nil
}

// dirNames lists the entries of dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

func TestSaveDBFrom(t *testing.T) {
	tests := []struct {
		name     string
		index    uint64
		data     string
		wantFile string
	}{
		{name: "small index", index: 1, data: "db-bytes", wantFile: "0000000000000001.snap.db"},
		{name: "hex index", index: 0xabc, data: "more", wantFile: "0000000000000abc.snap.db"},
		{name: "empty body", index: 7, data: "", wantFile: "0000000000000007.snap.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			core, logs := observer.New(zap.InfoLevel)
			s := New(zap.New(core), dir)
			n, err := s.SaveDBFrom(strings.NewReader(tt.data), tt.index)
			if err != nil || n != int64(len(tt.data)) {
				t.Fatalf("SaveDBFrom = %d, %v; want %d, nil", n, err, len(tt.data))
			}
			got, err := os.ReadFile(filepath.Join(dir, tt.wantFile))
			if err != nil || string(got) != tt.data {
				t.Fatalf("file content %q, %v; want %q", got, err, tt.data)
			}
			if names := dirNames(t, dir); len(names) != 1 {
				t.Errorf("directory holds %q, want only %s", names, tt.wantFile)
			}
			if logs.FilterMessage("saved database snapshot to disk").Len() != 1 {
				t.Errorf("missing save log; got %v", logs.All())
			}
		})
	}
}

func TestSaveDBFromKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	s := New(nil, dir)
	if _, err := s.SaveDBFrom(strings.NewReader("first"), 5); err != nil {
		t.Fatal(err)
	}
	n, err := s.SaveDBFrom(strings.NewReader("second!"), 5)
	if err != nil || n != 7 {
		t.Fatalf("second SaveDBFrom = %d, %v; want 7, nil", n, err)
	}
	path, err := s.DBFilePath(5)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "first" {
		t.Errorf("content = %q, want the first save kept", got)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q, want one file", names)
	}
}

func TestSaveDBFromErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (dir string, check string)
		r     func() *failingReader
	}{
		{
			name:  "reader fails midway",
			setup: func(t *testing.T) (string, string) { d := t.TempDir(); return d, d },
			r:     func() *failingReader { return &failingReader{after: 64 << 10} },
		},
		{
			name:  "reader fails at once",
			setup: func(t *testing.T) (string, string) { d := t.TempDir(); return d, d },
			r:     func() *failingReader { return &failingReader{} },
		},
		{
			name: "directory missing",
			setup: func(t *testing.T) (string, string) {
				d := t.TempDir()
				return filepath.Join(d, "absent"), d
			},
			r: func() *failingReader { return &failingReader{} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, check := tt.setup(t)
			s := New(zap.NewNop(), dir)
			r := tt.r()
			n, err := s.SaveDBFrom(r, 9)
			if err == nil {
				t.Fatalf("SaveDBFrom succeeded, want error")
			}
			if n != int64(r.sent) {
				t.Errorf("n = %d, want %d bytes read", n, r.sent)
			}
			if names := dirNames(t, check); len(names) != 0 {
				t.Errorf("directory holds %q after failure, want nothing", names)
			}
		})
	}
}

func TestDBFilePathDirIsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(nil, file).DBFilePath(1)
	if err == nil || errors.Is(err, ErrNoDBSnapshot) {
		t.Errorf("DBFilePath under a file = %v, want a non-ErrNoDBSnapshot error", err)
	}
}

func TestDBFilePath(t *testing.T) {
	dir := t.TempDir()
	s := New(nil, dir)
	if s.Dir() != dir {
		t.Fatalf("Dir() = %q, want %q", s.Dir(), dir)
	}
	if _, err := s.SaveDBFrom(strings.NewReader("db"), 0x10); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		index   uint64
		want    string
		wantErr error
	}{
		{name: "present", index: 0x10, want: filepath.Join(dir, "0000000000000010.snap.db")},
		{name: "missing", index: 0x11, wantErr: ErrNoDBSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DBFilePath(tt.index)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("DBFilePath error = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("DBFilePath = %q, want %q", got, tt.want)
			}
		})
	}
}
