package transport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rafthttp/rafthttp/internal/testpki"
)

// FuzzParseCRLs feeds arbitrary CRL file contents to the parser the
// revocation check rereads on every handshake: it must return lists or an
// error, never panic, and what it returns must be usable.
func FuzzParseCRLs(f *testing.F) {
	ca := testpki.NewCA(f, "fuzz-ca")
	leaf, _ := ca.Issue(f, "leaf", testpki.Leaf{CN: "leaf"})
	dir := f.TempDir()
	for _, enc := range []testpki.Encoding{testpki.PEM, testpki.DER} {
		path := filepath.Join(dir, "seed")
		ca.WriteCRL(f, path, enc, leaf)
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		lists, err := parseCRLs(data)
		if err != nil {
			if len(lists) != 0 {
				t.Fatalf("error %v with %d lists", err, len(lists))
			}
			return
		}
		if len(lists) == 0 {
			t.Fatal("no error and no list")
		}
		_ = newRevokedSet(lists)
	})
}
