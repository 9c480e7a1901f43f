package reliability

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/rafthttp/rafthttp/rafthttptest"
	"github.com/rafthttp/rafthttp/types"
)

// newMsg returns a message of type typ from → to that carries marker in
// its Commit field, so the receiver can tell messages apart.
func newMsg(typ raftpb.MessageType, from, to types.ID, marker uint64) *raftpb.Message {
	m := &raftpb.Message{
		Type: typ.Enum(), From: proto.Uint64(uint64(from)), To: proto.Uint64(uint64(to)),
		Term: proto.Uint64(1), Commit: proto.Uint64(marker),
	}
	if typ == raftpb.MsgApp {
		m.Index, m.LogTerm = proto.Uint64(marker), proto.Uint64(1)
		m.Entries = []*raftpb.Entry{{Term: proto.Uint64(1), Index: proto.Uint64(marker + 1), Data: []byte("e")}}
	}
	return m
}

// metricValue sums the values of the counter or gauge name (without the
// etcd_network_ prefix) whose label has the given value.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "etcd_network_"+name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	return sum
}

// receivedMarker reports whether r received a message carrying marker in
// Commit from `from`.
func receivedMarker(r *rafthttptest.Recorder, from types.ID, marker uint64) bool {
	return slices.ContainsFunc(r.Received(from), func(m *raftpb.Message) bool { return m.GetCommit() == marker })
}

// arrival is one message received by a timedRaft.
type arrival struct {
	marker uint64
	at     time.Time
}

// timedRaft is a Recorder that also keeps when each message from each
// member arrived, by marker.
type timedRaft struct {
	*rafthttptest.Recorder

	mu       sync.Mutex
	arrivals map[types.ID][]arrival
}

func newTimedRaft() *timedRaft {
	return &timedRaft{Recorder: rafthttptest.NewRecorder(), arrivals: make(map[types.ID][]arrival)}
}

func (r *timedRaft) Process(ctx context.Context, m *raftpb.Message) error {
	r.mu.Lock()
	from := types.ID(m.GetFrom())
	r.arrivals[from] = append(r.arrivals[from], arrival{marker: m.GetCommit(), at: time.Now()})
	r.mu.Unlock()
	return r.Recorder.Process(ctx, m)
}

// arrivalsFrom returns the arrivals of messages from `from`, in order.
func (r *timedRaft) arrivalsFrom(from types.ID) []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.arrivals[from])
}
