package rafthttptest

import (
	"bytes"
	"crypto/sha256"
	"os"
	"testing"
)

func TestWriteDBFile(t *testing.T) {
	const size = 3<<20 + 7 // not a multiple of the write buffer
	path, sum := WriteDBFile(t, t.TempDir(), size)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := FileSHA256(t, path); got != sum {
		t.Errorf("FileSHA256 = %x, WriteDBFile returned %x", got, sum)
	}
	if len(data) != size || sha256.Sum256(data) != sum {
		t.Fatalf("file of %d bytes with sha256 %x, want %d bytes with the returned %x", len(data), sha256.Sum256(data), size, sum)
	}
	again, sum2 := WriteDBFile(t, t.TempDir(), size)
	data2, err := os.ReadFile(again)
	if err != nil {
		t.Fatal(err)
	}
	if sum2 != sum || !bytes.Equal(data, data2) {
		t.Error("two files of one size differ")
	}
	if bytes.Count(data[:4096], []byte{0}) > 64 {
		t.Error("the bytes do not look pseudo-random")
	}
}
