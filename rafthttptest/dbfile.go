package rafthttptest

import (
	"bufio"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// WriteDBFile writes size pseudo-random bytes to a new file named "db" in
// dir, for a snapshot DB (WithSnapshotDB, or a snap.Message's body), and
// returns its path and SHA-256, to compare with what a receiver saved. The
// bytes depend only on size; memory stays flat however large it is.
func WriteDBFile(tb testing.TB, dir string, size int64) (path string, sum [sha256.Size]byte) {
	tb.Helper()
	path = filepath.Join(dir, "db")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8([32]byte{'r', 'a', 'f', 't', 'd', 'b'}), size); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	copy(sum[:], h.Sum(nil))
	return path, sum
}

// FileSHA256 is the SHA-256 of the file at path, to compare a DB a
// receiver saved with WriteDBFile's sum.
func FileSHA256(tb testing.TB, path string) [sha256.Size]byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
