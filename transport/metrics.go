package transport

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons counted in etcd_network_peer_tls_rejections_total.
const (
	reasonClientRevoked  = "client-cert-revoked"
	reasonServerRevoked  = "server-cert-revoked"
	reasonCRLUnavailable = "crl-unavailable"
	reasonClientSAN      = "client-san-mismatch"
)

// tlsMetrics counts connections the checks of this package turn away. A
// nil *tlsMetrics counts nothing.
type tlsMetrics struct {
	rejections *prometheus.CounterVec
}

// newTLSMetrics registers the counters on reg; nil reg registers none. A
// counter already registered there (by another config built from the same
// settings) is shared rather than rejected.
func newTLSMetrics(reg prometheus.Registerer) (*tlsMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "network", Name: "peer_tls_rejections_total",
		Help: "The total number of peer TLS connections rejected for a revoked certificate, an unreadable revocation list or a client certificate that does not match its source address.",
	}, []string{"Reason"})
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		existing, ok := c, false
		if errors.As(err, &already) {
			existing, ok = already.ExistingCollector.(*prometheus.CounterVec)
		}
		if !ok {
			return nil, fmt.Errorf("transport: register metrics: %w", err)
		}
		c = existing
	}
	return &tlsMetrics{rejections: c}, nil
}

// reject counts one rejection for reason.
func (m *tlsMetrics) reject(reason string) {
	if m != nil {
		m.rejections.WithLabelValues(reason).Inc()
	}
}
