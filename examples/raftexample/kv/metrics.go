package kv

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are served on /metrics next to the Transport's etcd_network_*.
type metrics struct {
	applied   prometheus.Gauge
	requests  *prometheus.CounterVec // by operation and outcome
	snapshots *prometheus.CounterVec // by event: created, sent, received
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applied: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "raftexample", Name: "applied_index",
			Help: "Index of the last raft entry applied to the key-value store.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "raftexample", Name: "requests_total",
			Help: "Client requests by operation and HTTP status code.",
		}, []string{"op", "code"}),
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "raftexample", Name: "snapshots_total",
			Help: "Snapshots created, sent to followers and received from the leader.",
		}, []string{"event"}),
	}
	for _, c := range []prometheus.Collector{m.applied, m.requests, m.snapshots} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("kv: registering metrics: %w", err)
		}
	}
	return m, nil
}
