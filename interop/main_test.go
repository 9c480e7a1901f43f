package interop

import (
	"testing"

	"go.uber.org/goleak"
	_ "go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp"
	_ "github.com/rafthttp/rafthttp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
