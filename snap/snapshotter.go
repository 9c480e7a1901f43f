package snap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// ErrNoDBSnapshot is wrapped by DBFilePath when no database snapshot exists
// for the requested index.
var ErrNoDBSnapshot = errors.New("snap: snapshot file doesn't exist")

// dbFileSuffix ends every database snapshot file name.
const dbFileSuffix = ".snap.db"

// Snapshotter stores database snapshots in one directory. Its methods are
// safe for concurrent use; concurrent saves of one index leave one complete
// file.
type Snapshotter struct {
	// Immutable:
	lg  *zap.Logger
	dir string
}

// New returns a Snapshotter that keeps its files in dir, which must already
// exist. A nil lg discards all logs.
func New(lg *zap.Logger, dir string) *Snapshotter {
	if lg == nil {
		lg = zap.NewNop()
	}
	return &Snapshotter{lg: lg, dir: dir}
}

// Dir returns the directory the Snapshotter stores files in.
func (s *Snapshotter) Dir() string {
	return s.dir
}

// dbFilePath names the database snapshot file for index.
func (s *Snapshotter) dbFilePath(index uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", index, dbFileSuffix))
}

// DBFilePath returns the path of the database snapshot saved for index. If
// there is none it returns an error wrapping ErrNoDBSnapshot; other errors
// come from inspecting the directory.
func (s *Snapshotter) DBFilePath(index uint64) (string, error) {
	path := s.dbFilePath(index)
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return path, nil
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%w: %s", ErrNoDBSnapshot, path)
	default:
		return "", fmt.Errorf("snap: inspecting %s: %w", path, err)
	}
}

// SaveDBFrom copies r into the database snapshot file for index and returns
// the number of bytes read from r. The data is written to a temporary file,
// synced, and renamed into place, and the directory is then synced. If a
// file for index already exists it is kept, the new copy is discarded, and
// the call succeeds (after syncing the directory). On any error no new file is left in the directory.
func (s *Snapshotter) SaveDBFrom(r io.Reader, index uint64) (int64, error) {
	tmp, n, err := s.writeTemp(r)
	if err != nil {
		return n, err
	}
	return n, s.install(tmp, index, n)
}

// install renames the complete, synced file tmp into place as the database
// snapshot for index, or removes it if a file for index already exists.
func (s *Snapshotter) install(tmp string, index uint64, n int64) error {
	path := s.dbFilePath(index)
	if _, err := os.Stat(path); err == nil {
		// Keep the existing file. An earlier save may have renamed it and
		// stopped before syncing the directory, so sync before succeeding.
		_ = os.Remove(tmp)
		return syncDir(s.dir)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("snap: renaming %s: %w", tmp, err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	s.lg.Info("saved database snapshot to disk",
		zap.String("path", path), zap.Int64("bytes", n))
	return nil
}

// writeTemp streams r into a new temporary file in the directory, syncs and
// closes it, and returns its name. On error the file is already removed.
func (s *Snapshotter) writeTemp(r io.Reader) (string, int64, error) {
	f, err := os.CreateTemp(s.dir, tempFilePrefix)
	if err != nil {
		return "", 0, fmt.Errorf("snap: creating temporary file: %w", err)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		err = fmt.Errorf("snap: receiving database: %w", err)
	} else if serr := f.Sync(); serr != nil {
		err = fmt.Errorf("snap: syncing %s: %w", f.Name(), serr)
	}
	if cerr := f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("snap: closing %s: %w", f.Name(), cerr)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", n, err
	}
	return f.Name(), n, nil
}

// syncDir flushes the directory entry changes of dir to stable storage.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snap: opening directory %s: %w", dir, err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return fmt.Errorf("snap: syncing directory %s: %w", dir, serr)
	}
	if cerr != nil {
		return fmt.Errorf("snap: closing directory %s: %w", dir, cerr)
	}
	return nil
}
