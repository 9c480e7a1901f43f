package probing

import (
	"errors"
	"testing"
	"time"
)

// errBoom stands for any probe failure.
var errBoom = errors.New("boom")

// sample is one probe outcome fed to a status.
type sample struct {
	rtt  time.Duration
	skew time.Duration // remote ahead of local; ignored for failures
	err  error         // non-nil: a failure
}

// recordCase is a sequence of samples and the status it must produce.
type recordCase struct {
	name          string
	samples       []sample
	wantSRTT      time.Duration
	wantClockDiff time.Duration
	wantHealth    bool
	wantErr       error
	wantTotal     int64
	wantLoss      int64
}

func recordCases() []recordCase {
	return []recordCase{
		{
			name:     "no samples",
			wantSRTT: 0,
		},
		{
			name:          "first sample seeds srtt",
			samples:       []sample{{rtt: 80 * time.Millisecond}},
			wantSRTT:      80 * time.Millisecond,
			wantClockDiff: -40 * time.Millisecond,
			wantHealth:    true, wantTotal: 1,
		},
		{
			name:          "smoothing",
			samples:       []sample{{rtt: 80 * time.Millisecond}, {rtt: 160 * time.Millisecond, skew: time.Second}},
			wantSRTT:      90 * time.Millisecond,
			wantClockDiff: -time.Second - 45*time.Millisecond,
			wantHealth:    true, wantTotal: 2,
		},
		{
			name:          "failure keeps srtt",
			samples:       []sample{{rtt: 80 * time.Millisecond}, {err: errBoom}},
			wantSRTT:      80 * time.Millisecond,
			wantClockDiff: -40 * time.Millisecond,
			wantErr:       errBoom, wantTotal: 2, wantLoss: 1,
		},
		{
			name:          "success clears error",
			samples:       []sample{{err: errBoom}, {rtt: 8 * time.Millisecond, skew: -time.Second}},
			wantSRTT:      8 * time.Millisecond,
			wantClockDiff: time.Second - 4*time.Millisecond,
			wantHealth:    true, wantTotal: 2, wantLoss: 1,
		},
	}
}

func TestStatusRecord(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range recordCases() {
		t.Run(tt.name, func(t *testing.T) {
			s := newStatus()
			for _, smp := range tt.samples {
				if smp.err != nil {
					s.recordFailure(smp.err)
					continue
				}
				s.recordSuccess(base, smp.rtt, base.Add(smp.skew))
			}
			if s.SRTT() != tt.wantSRTT || s.ClockDiff() != tt.wantClockDiff {
				t.Errorf("srtt=%v clockdiff=%v, want %v %v", s.SRTT(), s.ClockDiff(), tt.wantSRTT, tt.wantClockDiff)
			}
			if s.Health() != tt.wantHealth || !errors.Is(s.Err(), tt.wantErr) || (tt.wantErr == nil && s.Err() != nil) {
				t.Errorf("health=%v err=%v, want %v %v", s.Health(), s.Err(), tt.wantHealth, tt.wantErr)
			}
			if s.Total() != tt.wantTotal || s.Loss() != tt.wantLoss {
				t.Errorf("total=%d loss=%d, want %d %d", s.Total(), s.Loss(), tt.wantTotal, tt.wantLoss)
			}
			if isClosed(s.StopNotify()) {
				t.Error("StopNotify closed on a live status")
			}
		})
	}
}
