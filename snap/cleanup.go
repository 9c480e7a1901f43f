package snap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tempFilePrefix starts the names of the temporary files SaveDBFrom writes
// before renaming them into place.
const tempFilePrefix = "tmp"

// ReleaseDBsBefore removes the database snapshot files of indexes below
// index. A file open elsewhere (one being sent) stays readable until it is
// closed. It tries every file and returns the errors it met.
func (s *Snapshotter) ReleaseDBsBefore(index uint64) error {
	return s.removeFiles(func(name string) bool {
		hex, ok := strings.CutSuffix(name, dbFileSuffix)
		i, err := strconv.ParseUint(hex, 16, 64)
		return ok && err == nil && i < index
	})
}

// RemoveTempFiles deletes the temporary files a SaveDBFrom interrupted by a
// crash left in the directory. Call it before any save starts.
func (s *Snapshotter) RemoveTempFiles() error {
	return s.removeFiles(func(name string) bool { return strings.HasPrefix(name, tempFilePrefix) })
}

// removeFiles removes the directory's files whose names match.
func (s *Snapshotter) removeFiles(match func(name string) bool) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("snap: listing %s: %w", s.dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.Type().IsRegular() && match(e.Name()) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("snap: removing %s: %w", e.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}
