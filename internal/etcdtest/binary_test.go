package etcdtest

import (
	"strings"
	"testing"
)

// recordingTB stops at the first Skip or Fatal and remembers which.
type recordingTB struct {
	testing.TB
	how, msg string
}

type stopped struct{}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skip(args ...any) {
	r.how, r.msg = "skip", args[0].(string)
	panic(stopped{})
}
func (r *recordingTB) Fatal(args ...any) {
	r.how, r.msg = "fatal", args[0].(string)
	panic(stopped{})
}

func (r *recordingTB) find() {
	defer func() {
		if v := recover(); v != nil && v != (stopped{}) {
			panic(v)
		}
	}()
	FindBinaries(r)
}

func TestFindBinariesMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct{ ci, want string }{{"", "skip"}, {"true", "fatal"}} {
		t.Setenv("CI", tc.ci)
		r := &recordingTB{TB: t}
		r.find()
		if r.how != tc.want || !strings.Contains(r.msg, "make etcd") {
			t.Errorf("CI=%q: %s %q, want %s naming `make etcd`", tc.ci, r.how, r.msg, tc.want)
		}
	}
}

func TestFindBinariesPresent(t *testing.T) {
	b := FindBinaries(t)
	if !strings.HasSuffix(b.Etcd, "/etcd") || !strings.HasSuffix(b.Etcdctl, "/etcdctl") {
		t.Fatalf("binaries %+v", b)
	}
}
