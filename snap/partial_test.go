package snap

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPartialDBLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := New(nil, dir)
	p, err := s.CreatePartial()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("hello, ")); err != nil {
		t.Fatal(err)
	}
	if err := p.Suspend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DBFilePath(1); err == nil {
		t.Fatal("a suspended partial file counts as the DB of index 1")
	}
	// Bytes beyond what was counted (a write the caller did not see
	// succeed) are cut off on reopening.
	if err := os.WriteFile(filepath.Join(dir, p.Name()), []byte("hello, junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err = s.OpenPartial(p.Name(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 12 {
		t.Errorf("Len = %d, want 12", p.Len())
	}
	if err := p.Commit(1); err != nil {
		t.Fatal(err)
	}
	path, err := s.DBFilePath(1)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "hello, world" {
		t.Errorf("committed DB = %q", got)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"0000000000000001.snap.db"}) {
		t.Errorf("dir holds %v", got)
	}
}

func TestPartialDBRefusals(t *testing.T) {
	dir := t.TempDir()
	s := New(nil, dir)
	p, err := s.CreatePartial()
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("abc"))
	if err := p.Suspend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenPartial(p.Name(), 10); err == nil {
		t.Error("reopening a 3-byte partial at 10 succeeded")
	}
	for _, name := range []string{"../x.snap.partial", "0000000000000001.snap.db", "tmp/../../x.snap.partial"} {
		if _, err := s.OpenPartial(name, 0); err == nil {
			t.Errorf("OpenPartial(%q) succeeded", name)
		}
		if err := s.RemovePartial(name); err == nil {
			t.Errorf("RemovePartial(%q) succeeded", name)
		}
	}
	q, err := s.CreatePartial()
	if err != nil {
		t.Fatal(err)
	}
	q.Discard()
	if err := s.RemovePartials(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("dir holds %v after RemovePartials", got)
	}
}
