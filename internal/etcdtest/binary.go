package etcdtest

import (
	"os"
	"os/exec"
	"testing"
)

// InstallCommand is the one command that installs the etcd binaries.
const InstallCommand = "make etcd"

// Binaries holds the paths of the etcd programs found on PATH.
type Binaries struct {
	Etcd    string
	Etcdctl string
}

// FindBinaries looks up etcd and etcdctl on PATH. When one is missing it
// fails the test if the environment variable CI is set and skips it
// otherwise, naming InstallCommand either way.
func FindBinaries(t testing.TB) Binaries {
	t.Helper()
	var b Binaries
	for _, f := range []struct {
		name string
		dst  *string
	}{{"etcd", &b.Etcd}, {"etcdctl", &b.Etcdctl}} {
		path, err := exec.LookPath(f.name)
		if err == nil {
			*f.dst = path
			continue
		}
		msg := f.name + " is not on PATH; install it with `" + InstallCommand + "`"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return b
}
