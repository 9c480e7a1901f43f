package rafthttp

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.etcd.io/raft/v3/raftpb"
)

// utFindMetric returns the family called name and its sample whose labels
// are exactly labels, or nil ones.
func utFindMetric(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (*dto.MetricFamily, *dto.Metric) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if utLabelsEqual(m.GetLabel(), labels) {
				return mf, m
			}
		}
		return mf, nil
	}
	return nil, nil
}

func utLabelsEqual(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, lp := range got {
		if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
			return false
		}
	}
	return true
}

// utMetricValue returns a counter's or gauge's value, or a histogram's
// sample count; a series that does not exist yet reads as 0.
func utMetricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	_, m := utFindMetric(t, g, name, labels)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	t.Fatalf("%s has no value", name)
	return 0
}

// utBuckets returns the n exponential bucket bounds from start by factor.
func utBuckets(start, factor float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = start * math.Pow(factor, float64(i))
	}
	return out
}

func TestMetricsMatchEtcdNamesLabelsAndBuckets(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Vectors show up in a gather only once a series exists.
	m.activePeers.WithLabelValues("1", "2").Set(1)
	m.disconnectedPeers.WithLabelValues("1", "2").Inc()
	for _, c := range []*prometheus.CounterVec{m.sentBytes, m.receivedBytes, m.sentFailures, m.recvFailures,
		m.snapshotSend, m.snapshotSendFailures, m.snapshotRecv, m.snapshotRecvFailures} {
		c.WithLabelValues("2").Inc()
	}
	m.snapshotSendInflights.WithLabelValues("2").Inc()
	m.snapshotRecvInflights.WithLabelValues("2").Inc()
	for _, h := range []*prometheus.HistogramVec{m.rttSec, m.snapshotSendSeconds, m.snapshotRecvSeconds} {
		h.WithLabelValues("2").Observe(0.01)
	}

	snapBuckets := utBuckets(0.1, 2, 10)
	tests := []struct {
		name    string
		typ     dto.MetricType
		labels  []string
		help    string
		buckets []float64
	}{
		{"etcd_network_active_peers", dto.MetricType_GAUGE, []string{"Local", "Remote"}, "The current number of active peer connections.", nil},
		{"etcd_network_disconnected_peers_total", dto.MetricType_COUNTER, []string{"Local", "Remote"}, "The total number of disconnected peers.", nil},
		{"etcd_network_peer_sent_bytes_total", dto.MetricType_COUNTER, []string{"To"}, "The total number of bytes sent to peers.", nil},
		{"etcd_network_peer_received_bytes_total", dto.MetricType_COUNTER, []string{"From"}, "The total number of bytes received from peers.", nil},
		{"etcd_network_peer_sent_failures_total", dto.MetricType_COUNTER, []string{"To"}, "The total number of send failures from peers.", nil},
		{"etcd_network_peer_received_failures_total", dto.MetricType_COUNTER, []string{"From"}, "The total number of receive failures from peers.", nil},
		{"etcd_network_snapshot_send_success", dto.MetricType_COUNTER, []string{"To"}, "Total number of successful snapshot sends", nil},
		{"etcd_network_snapshot_send_inflights_total", dto.MetricType_GAUGE, []string{"To"}, "Total number of inflight snapshot sends", nil},
		{"etcd_network_snapshot_send_failures", dto.MetricType_COUNTER, []string{"To"}, "Total number of snapshot send failures", nil},
		{"etcd_network_snapshot_send_total_duration_seconds", dto.MetricType_HISTOGRAM, []string{"To"}, "Total latency distributions of v3 snapshot sends", snapBuckets},
		{"etcd_network_snapshot_receive_success", dto.MetricType_COUNTER, []string{"From"}, "Total number of successful snapshot receives", nil},
		{"etcd_network_snapshot_receive_inflights_total", dto.MetricType_GAUGE, []string{"From"}, "Total number of inflight snapshot receives", nil},
		{"etcd_network_snapshot_receive_failures", dto.MetricType_COUNTER, []string{"From"}, "Total number of snapshot receive failures", nil},
		{"etcd_network_snapshot_receive_total_duration_seconds", dto.MetricType_HISTOGRAM, []string{"From"}, "Total latency distributions of v3 snapshot receives", snapBuckets},
		{"etcd_network_peer_round_trip_time_seconds", dto.MetricType_HISTOGRAM, []string{"To"}, "Round-Trip-Time histogram between peers", utBuckets(0.0001, 2, 16)},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != len(tests) {
		t.Errorf("registry holds %d families, want %d", len(mfs), len(tests))
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.name, "etcd_network_"), func(t *testing.T) {
			i := slices.IndexFunc(mfs, func(mf *dto.MetricFamily) bool { return mf.GetName() == tt.name })
			if i < 0 {
				t.Fatalf("%s is not registered", tt.name)
			}
			mf := mfs[i]
			if mf.GetType() != tt.typ {
				t.Errorf("type = %v, want %v", mf.GetType(), tt.typ)
			}
			if mf.GetHelp() != tt.help {
				t.Errorf("help = %q, want %q", mf.GetHelp(), tt.help)
			}
			var names []string
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				names = append(names, lp.GetName())
			}
			if !slices.Equal(names, tt.labels) {
				t.Errorf("labels = %v, want %v", names, tt.labels)
			}
			if tt.buckets == nil {
				return
			}
			var bounds []float64
			for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
			if len(bounds) != len(tt.buckets) {
				t.Fatalf("buckets = %v, want %v", bounds, tt.buckets)
			}
			for i := range bounds {
				if math.Abs(bounds[i]-tt.buckets[i]) > 1e-12 {
					t.Fatalf("buckets = %v, want %v", bounds, tt.buckets)
				}
			}
		})
	}
}

func TestMetricsNilRegistererRegistersNothing(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.sentBytes.WithLabelValues("2").Add(3) // usable all the same
}

func TestMetricsConflictingCollectorFailsStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "etcd_network_peer_sent_bytes_total", Help: "an unrelated collector"}))
	tr := &Transport{ID: 1, ClusterID: 0xc1, Raft: newRecordingRaft(), Registerer: reg}
	err := tr.Start()
	if err == nil {
		tr.Stop()
		t.Fatal("Start succeeded with a conflicting collector on the registry")
	}
	if !strings.Contains(err.Error(), "register metrics") {
		t.Errorf("Start() = %v, want a metrics registration error", err)
	}
}

func TestMetricsTwoTransportsShareOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	withReg := func(tr *Transport) { tr.Registerer = reg }
	a := startMember(t, 1, withReg)
	b := startMember(t, 2, withReg)
	connect(t, a, b)

	tests := []struct {
		local, remote string
	}{{"1", "2"}, {"2", "1"}}
	for _, tt := range tests {
		labels := map[string]string{"Local": tt.local, "Remote": tt.remote}
		if got := utMetricValue(t, reg, "etcd_network_active_peers", labels); got != 1 {
			t.Errorf("active_peers%v = %v, want 1", labels, got)
		}
	}

	to2 := map[string]string{"To": "2"}
	before := utMetricValue(t, reg, "etcd_network_peer_sent_bytes_total", to2)
	m := msg(raftpb.MsgHeartbeat, 1, 2, 7)
	a.tr.Send([]*raftpb.Message{m})
	if got := b.raft.receive(t); got.GetTerm() != 7 {
		t.Fatalf("received %v, want the heartbeat of term 7", got)
	}
	waitFor(t, 5*time.Second, "peer_sent_bytes_total to grow", func() bool {
		return utMetricValue(t, reg, "etcd_network_peer_sent_bytes_total", to2) > before
	})
	waitFor(t, 5*time.Second, "peer_received_bytes_total{From=1} to grow", func() bool {
		return utMetricValue(t, reg, "etcd_network_peer_received_bytes_total", map[string]string{"From": "1"}) > 0
	})

	// Removing the peer takes it out of the active gauge.
	a.tr.RemovePeer(2)
	if got := utMetricValue(t, reg, "etcd_network_active_peers", map[string]string{"Local": "1", "Remote": "2"}); got != 0 {
		t.Errorf("active_peers{1,2} = %v after RemovePeer, want 0", got)
	}
}

func TestPeerStatusTransitionsUpdateMetrics(t *testing.T) {
	f := utNewFixture(t, nil)
	s := newPeerStatus(f.env.lg, f.env.metrics, 1, 2)
	pair := map[string]string{"Local": "1", "Remote": "2"}
	steps := []struct {
		name             string
		do               func()
		wantActive       bool
		wantGauge        float64
		wantDisconnected float64
	}{
		{"initially inactive", func() {}, false, 0, 0},
		{"activate", s.activate, true, 1, 0},
		{"activate again is a no-op", s.activate, true, 1, 0},
		{"deactivate", func() { s.deactivate(failure{channel: "pipeline", action: "write"}, "boom") }, false, 0, 1},
		{"deactivate again is a no-op", func() { s.deactivate(failure{channel: "pipeline", action: "write"}, "boom") }, false, 0, 1},
		{"reactivate", s.activate, true, 1, 1},
		{"forget clears the gauge", s.forget, false, 0, 1},
	}
	for _, st := range steps {
		st.do()
		if got := s.isActive(); got != st.wantActive {
			t.Errorf("%s: isActive = %v, want %v", st.name, got, st.wantActive)
		}
		if got := !s.activeSince().IsZero(); got != st.wantActive {
			t.Errorf("%s: activeSince non-zero = %v, want %v", st.name, got, st.wantActive)
		}
		if got := utMetricValue(t, f.reg, "etcd_network_active_peers", pair); got != st.wantGauge {
			t.Errorf("%s: active_peers = %v, want %v", st.name, got, st.wantGauge)
		}
		if got := utMetricValue(t, f.reg, "etcd_network_disconnected_peers_total", pair); got != st.wantDisconnected {
			t.Errorf("%s: disconnected_peers_total = %v, want %v", st.name, got, st.wantDisconnected)
		}
	}
}
