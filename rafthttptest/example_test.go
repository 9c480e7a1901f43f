package rafthttptest_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp"
	"github.com/rafthttp/rafthttp/rafthttptest"
)

// exampleTB is the part of testing.TB an Example needs, since Examples
// get no *testing.T: failures panic, cleanups run at Close. In a test, pass
// t instead.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (e *exampleTB) Helper()                           {}
func (e *exampleTB) Logf(string, ...any)               {}
func (e *exampleTB) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) Cleanup(f func())                  { e.cleanups = append(e.cleanups, f) }

func (e *exampleTB) TempDir() string {
	dir, err := os.MkdirTemp("", "rafthttptest-example")
	if err != nil {
		panic(err)
	}
	e.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Close runs the cleanups, last registered first, as testing does.
func (e *exampleTB) Close() {
	for _, f := range slices.Backward(e.cleanups) {
		f()
	}
}

func ExampleNewCluster() {
	t := &exampleTB{} // in a test: t *testing.T
	defer t.Close()

	// Three Transports on loopback, each delivering to a Recorder.
	c := rafthttptest.NewCluster(t, 3, rafthttptest.WithTransport(func(tr *rafthttp.Transport) {
		tr.ConnReadTimeout = time.Second
	}))
	c.WaitAllStreams(t, 5*time.Second)

	// Cut 1 → 3 only: 2 still hears from 1.
	c.Partition(1, 3)
	hb := raftpb.MsgHeartbeat
	send := func(to uint64) {
		c.Member(1).Transport().Send([]*raftpb.Message{{
			Type: &hb, From: proto.Uint64(1), To: proto.Uint64(to), Term: proto.Uint64(1),
		}})
	}
	send(2)
	send(3)
	rafthttptest.WaitFor(t, 5*time.Second, "2 receives", func() bool {
		return len(c.Member(2).Recorder().Received(1)) == 1
	})
	fmt.Println("member 2 received:", c.Member(2).Recorder().Received(1)[0].GetType())
	fmt.Println("member 3 received:", len(c.Member(3).Recorder().Received(1)), "messages")

	// After healing, 3 hears from 1 again.
	c.HealAll()
	rafthttptest.WaitFor(t, 5*time.Second, "3 receives", func() bool {
		send(3)
		return len(c.Member(3).Recorder().Received(1)) > 0
	})
	fmt.Println("member 3 receives after heal")
	// Output:
	// member 2 received: MsgHeartbeat
	// member 3 received: 0 messages
	// member 3 receives after heal
}

func ExampleNewRaftCluster() {
	t := &exampleTB{} // in a test: t *testing.T
	defer t.Close()

	rc := rafthttptest.NewRaftCluster(t, 3)
	rc.WaitLeader(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, kv := range []string{"x=1", "y=2"} {
		if err := rc.Propose(ctx, []byte(kv)); err != nil {
			panic(err)
		}
	}

	// Stop member 3, commit more without it, and bring it back: it replays
	// its log and catches up.
	rc.StopNode(3)
	rc.WaitLeader(t, 10*time.Second)
	if err := rc.Propose(ctx, []byte("z=3")); err != nil {
		panic(err)
	}
	rc.RestartNode(3)
	rc.WaitConverged(t, 10*time.Second)
	for _, data := range rc.Applied(3) {
		fmt.Println(string(data))
	}
	// Output:
	// x=1
	// y=2
	// z=3
}
