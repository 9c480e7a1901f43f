package rafthttp

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rafthttp/rafthttp/probing"
	"github.com/rafthttp/rafthttp/types"
)

// Cadence of the prober checks that feed logs and the RTT histogram.
const (
	proberStatusInterval = 30 * time.Second
	proberErrorInterval  = 5 * time.Second
	// clockDriftThreshold is the drift beyond which a warning is logged.
	clockDriftThreshold = time.Second
)

// probers measures RTT and clock drift to every peer twice: once over each
// round tripper, since streams and POSTs use different connections.
type probers struct {
	env      *env
	pipeline probing.Prober
	stream   probing.Prober
	// monitors watch probe statuses; each ends when its probe is removed.
	monitors sync.WaitGroup
}

func newProbers(e *env) *probers {
	return &probers{env: e, pipeline: probing.NewProber(e.pipelineRt), stream: probing.NewProber(e.streamRt)}
}

// add starts probing id at urls and a monitor for each prober.
func (p *probers) add(id types.ID, urls types.URLs) {
	endpoints := make([]string, len(urls))
	for i, u := range urls {
		endpoints[i] = u.String() + ProbingPrefix
	}
	p.addTo(p.pipeline, RoundTripperNameSnapshot, id, endpoints)
	p.addTo(p.stream, RoundTripperNameRaftMessage, id, endpoints)
}

func (p *probers) addTo(pr probing.Prober, name string, id types.ID, endpoints []string) {
	lg := p.env.lg.With(zap.String("round-tripper-name", name), zap.Stringer("remote-peer-id", id))
	if err := pr.AddHTTP(id.String(), p.env.cfg.proberInterval, endpoints); err != nil {
		lg.Warn("failed to add peer into prober", zap.Error(err))
		return
	}
	st, err := pr.Status(id.String())
	if err != nil {
		return
	}
	p.monitors.Go(func() { p.monitor(lg, id, st) })
}

// monitor logs unhealthy probes and high clock drift, and records the
// smoothed RTT, until the probe is removed.
func (p *probers) monitor(lg *zap.Logger, id types.ID, st probing.Status) {
	timer := time.NewTimer(proberErrorInterval)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-st.StopNotify():
			return
		}
		next := proberStatusInterval
		if !st.Health() {
			lg.Warn("prober detected unhealthy status", zap.Duration("rtt", st.SRTT()), zap.Error(st.Err()))
			next = proberErrorInterval
		}
		if st.ClockDiff() > clockDriftThreshold {
			lg.Warn("prober found high clock drift", zap.Duration("clock-drift", st.ClockDiff()),
				zap.Duration("rtt", st.SRTT()), zap.Error(st.Err()))
		}
		// etcd records 0 before the first successful probe; we wait for one.
		if st.SRTT() > 0 {
			p.env.metrics.rttSec.WithLabelValues(id.String()).Observe(st.SRTT().Seconds())
		}
		timer.Reset(next)
	}
}

// remove stops probing id; its monitors exit on their own.
func (p *probers) remove(id types.ID) {
	_ = p.pipeline.Remove(id.String())
	_ = p.stream.Remove(id.String())
}

// removeAll stops every probe and waits for the monitors.
func (p *probers) removeAll() {
	p.pipeline.RemoveAll()
	p.stream.RemoveAll()
	p.monitors.Wait()
}
