package snap

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReleaseDBsBeforeAndRemoveTempFiles(t *testing.T) {
	dir := t.TempDir()
	s := New(nil, dir)
	for _, index := range []uint64{5, 0x10, 0x11} {
		if _, err := s.SaveDBFrom(strings.NewReader("db"), index); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"tmp123", "notes.txt", "zz.snap.db"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ReleaseDBsBefore(0x11); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveTempFiles(); err != nil {
		t.Fatal(err)
	}
	want := []string{"0000000000000011.snap.db", "notes.txt", "zz.snap.db"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
}

func TestRemoveFilesMissingDir(t *testing.T) {
	s := New(nil, filepath.Join(t.TempDir(), "missing"))
	if err := s.RemoveTempFiles(); err == nil {
		t.Error("RemoveTempFiles in a missing directory succeeded")
	}
}
