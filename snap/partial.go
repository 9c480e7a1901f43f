package snap

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// partialSuffix ends the names of partial database files. With the
// temporary-file prefix in front, RemoveTempFiles clears them too, and no
// partial file can be taken for a whole database (those end in .snap.db).
const partialSuffix = ".snap.partial"

// PartialDB is a database snapshot file being received in pieces: a
// transfer that was cut keeps it, and a later transfer of the same
// database continues it. It is used by one goroutine at a time.
type PartialDB struct {
	s    *Snapshotter
	f    *os.File // nil while suspended
	name string   // base name in the directory
	n    int64    // bytes written
}

// CreatePartial starts an empty partial database file.
func (s *Snapshotter) CreatePartial() (*PartialDB, error) {
	f, err := os.CreateTemp(s.dir, tempFilePrefix+"*"+partialSuffix)
	if err != nil {
		return nil, fmt.Errorf("snap: creating partial file: %w", err)
	}
	return &PartialDB{s: s, f: f, name: filepath.Base(f.Name())}, nil
}

// OpenPartial reopens the partial file name to continue it after its
// first n bytes; anything beyond them is cut off.
func (s *Snapshotter) OpenPartial(name string, n int64) (*PartialDB, error) {
	if !isPartialName(name) {
		return nil, fmt.Errorf("snap: %q is not a partial file", name)
	}
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("snap: opening partial file: %w", err)
	}
	// A file shorter than n lost bytes we counted as written: refuse it
	// rather than fill the gap with zeros.
	st, err := f.Stat()
	if err == nil && st.Size() < n {
		err = fmt.Errorf("holds %d bytes", st.Size())
	}
	if err == nil {
		err = f.Truncate(n)
	}
	if err == nil {
		_, err = f.Seek(n, 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("snap: positioning partial file at %d: %w", n, err)
	}
	return &PartialDB{s: s, f: f, name: name, n: n}, nil
}

// Name is the file's base name, for OpenPartial and RemovePartial.
func (p *PartialDB) Name() string { return p.name }

// Len is the number of bytes written so far.
func (p *PartialDB) Len() int64 { return p.n }

// Write appends b.
func (p *PartialDB) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.n += int64(n)
	return n, err
}

// Suspend syncs and closes the file, keeping it for OpenPartial.
func (p *PartialDB) Suspend() error {
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	p.f = nil
	if err != nil {
		return fmt.Errorf("snap: suspending %s: %w", p.name, err)
	}
	return nil
}

// Commit syncs the file and moves it into place as the database snapshot
// for index, as SaveDBFrom does with a complete stream.
func (p *PartialDB) Commit(index uint64) error {
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	p.f = nil
	path := filepath.Join(p.s.dir, p.name)
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("snap: syncing %s: %w", p.name, err)
	}
	return p.s.install(path, index, p.n)
}

// Discard closes and removes the file.
func (p *PartialDB) Discard() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	_ = p.s.RemovePartial(p.name)
}

// RemovePartial removes the partial file name, if it is one.
func (s *Snapshotter) RemovePartial(name string) error {
	if !isPartialName(name) {
		return fmt.Errorf("snap: %q is not a partial file", name)
	}
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("snap: removing %s: %w", name, err)
	}
	return nil
}

// RemovePartials removes every partial database file in the directory.
func (s *Snapshotter) RemovePartials() error {
	return s.removeFiles(isPartialName)
}

// isPartialName reports whether name is a partial file's base name.
func isPartialName(name string) bool {
	return strings.HasPrefix(name, tempFilePrefix) && strings.HasSuffix(name, partialSuffix) &&
		!strings.ContainsAny(name, `/\`)
}
