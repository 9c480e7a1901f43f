package rafthttp

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the Transport's Prometheus collectors. Names, help texts,
// labels and buckets are etcd's, so existing dashboards keep working.
type metrics struct {
	activePeers       *prometheus.GaugeVec
	disconnectedPeers *prometheus.CounterVec
	sentBytes         *prometheus.CounterVec
	receivedBytes     *prometheus.CounterVec
	sentFailures      *prometheus.CounterVec
	recvFailures      *prometheus.CounterVec
	rttSec            *prometheus.HistogramVec

	snapshotSend          *prometheus.CounterVec
	snapshotSendInflights *prometheus.GaugeVec
	snapshotSendFailures  *prometheus.CounterVec
	snapshotSendSeconds   *prometheus.HistogramVec
	snapshotRecv          *prometheus.CounterVec
	snapshotRecvInflights *prometheus.GaugeVec
	snapshotRecvFailures  *prometheus.CounterVec
	snapshotRecvSeconds   *prometheus.HistogramVec

	// Byte-level progress of snapshot transfers (not in etcd).
	snapshotSendBytes         *prometheus.CounterVec
	snapshotRecvBytes         *prometheus.CounterVec
	snapshotSendInflightBytes *prometheus.GaugeVec
	snapshotRecvInflightBytes *prometheus.GaugeVec
	// Resume and integrity between rafthttp Transports (not in etcd).
	snapshotSendResumedBytes     *prometheus.CounterVec
	snapshotRecvResumedBytes     *prometheus.CounterVec
	snapshotRecvChecksumFailures *prometheus.CounterVec
}

// newMetrics builds the collectors and registers them on reg, if reg is not
// nil. A collector already registered by another Transport on the same
// registry is shared rather than rejected, so several Transports can live
// in one process.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	f := metricFactory{reg: reg}
	m := &metrics{
		activePeers: f.gaugeVec("active_peers",
			"The current number of active peer connections.", "Local", "Remote"),
		disconnectedPeers: f.counterVec("disconnected_peers_total",
			"The total number of disconnected peers.", "Local", "Remote"),
		sentBytes: f.counterVec("peer_sent_bytes_total",
			"The total number of bytes sent to peers.", "To"),
		receivedBytes: f.counterVec("peer_received_bytes_total",
			"The total number of bytes received from peers.", "From"),
		sentFailures: f.counterVec("peer_sent_failures_total",
			"The total number of send failures from peers.", "To"),
		recvFailures: f.counterVec("peer_received_failures_total",
			"The total number of receive failures from peers.", "From"),
		rttSec: f.histogramVec("peer_round_trip_time_seconds",
			"Round-Trip-Time histogram between peers",
			prometheus.ExponentialBuckets(0.0001, 2, 16), "To"),
	}
	m.addSnapshotMetrics(&f)
	m.addSnapshotProgressMetrics(&f)
	return m, f.err
}

func (m *metrics) addSnapshotMetrics(f *metricFactory) {
	buckets := prometheus.ExponentialBuckets(0.1, 2, 10)
	m.snapshotSend = f.counterVec("snapshot_send_success",
		"Total number of successful snapshot sends", "To")
	m.snapshotSendInflights = f.gaugeVec("snapshot_send_inflights_total",
		"Total number of inflight snapshot sends", "To")
	m.snapshotSendFailures = f.counterVec("snapshot_send_failures",
		"Total number of snapshot send failures", "To")
	m.snapshotSendSeconds = f.histogramVec("snapshot_send_total_duration_seconds",
		"Total latency distributions of v3 snapshot sends", buckets, "To")
	m.snapshotRecv = f.counterVec("snapshot_receive_success",
		"Total number of successful snapshot receives", "From")
	m.snapshotRecvInflights = f.gaugeVec("snapshot_receive_inflights_total",
		"Total number of inflight snapshot receives", "From")
	m.snapshotRecvFailures = f.counterVec("snapshot_receive_failures",
		"Total number of snapshot receive failures", "From")
	m.snapshotRecvSeconds = f.histogramVec("snapshot_receive_total_duration_seconds",
		"Total latency distributions of v3 snapshot receives", buckets, "From")
}

// addSnapshotProgressMetrics adds the byte counts of snapshot transfers,
// which etcd does not have, named in the style of its snapshot metrics.
func (m *metrics) addSnapshotProgressMetrics(f *metricFactory) {
	m.snapshotSendBytes = f.counterVec("snapshot_send_bytes_total",
		"Total number of snapshot DB bytes sent, counted as they leave, in failed attempts too", "To")
	m.snapshotRecvBytes = f.counterVec("snapshot_receive_bytes_total",
		"Total number of snapshot DB bytes received, counted as they arrive, in failed attempts too", "From")
	m.snapshotSendInflightBytes = f.gaugeVec("snapshot_send_inflight_bytes",
		"DB bytes sent so far by the snapshot sends in progress", "To")
	m.snapshotRecvInflightBytes = f.gaugeVec("snapshot_receive_inflight_bytes",
		"DB bytes received so far by the snapshot receives in progress", "From")
	m.snapshotSendResumedBytes = f.counterVec("snapshot_send_resumed_bytes_total",
		"Total number of snapshot DB bytes not sent again because the receiver held them from a cut transfer", "To")
	m.snapshotRecvResumedBytes = f.counterVec("snapshot_receive_resumed_bytes_total",
		"Total number of snapshot DB bytes kept from cut transfers and resumed", "From")
	m.snapshotRecvChecksumFailures = f.counterVec("snapshot_receive_checksum_failures",
		"Total number of snapshot receives whose DB did not match the sender's checksum", "From")
}

// metricFactory creates etcd_network_* collectors and registers each one,
// remembering the first registration error.
type metricFactory struct {
	reg prometheus.Registerer
	err error
}

func opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: "etcd", Subsystem: "network", Name: name, Help: help}
}

func (f *metricFactory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return register(f, prometheus.NewCounterVec(prometheus.CounterOpts(opts(name, help)), labels))
}

func (f *metricFactory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return register(f, prometheus.NewGaugeVec(prometheus.GaugeOpts(opts(name, help)), labels))
}

func (f *metricFactory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	o := opts(name, help)
	return register(f, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets,
	}, labels))
}

// register registers c, or returns the identical collector that is already
// registered under the same name.
func register[C prometheus.Collector](f *metricFactory, c C) C {
	if f.reg == nil {
		return c
	}
	err := f.reg.Register(c)
	if err == nil {
		return c
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing
		}
	}
	if f.err == nil {
		f.err = err
	}
	return c
}
