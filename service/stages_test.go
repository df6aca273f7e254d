package service

import (
	"math"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/latency"
)

func TestStageQuantilesMatchTheHistogram(t *testing.T) {
	h := latency.NewWithBuckets(metrics.NewSet(), `liqbox_stage_demo_seconds`, "demo", []float64{0.001, 0.002, 0.004})
	for i := 0; i < 90; i++ {
		h.Update(0.0015) // bucket (0.001, 0.002]
	}
	for i := 0; i < 10; i++ {
		h.Update(0.003) // bucket (0.002, 0.004]
	}
	start := time.Now()
	l := newStageLatency(start, h)
	rep := l.report(start.Add(time.Second))
	if len(rep) != 1 || rep[0].Name != "demo" || rep[0].Count != 100 {
		t.Fatalf("report %+v", rep)
	}
	// p50: rank 50 of 90 in (1ms, 2ms] → 1ms + 1ms×50/90.
	if got, want := *rep[0].P50, 0.001+0.001*50/90; math.Abs(got-want) > 1e-12 {
		t.Errorf("p50 = %v, want %v", got, want)
	}
	// p95: rank 95, 5 of 10 into (2ms, 4ms] → 3ms.
	if got := *rep[0].P95; math.Abs(got-0.003) > 1e-12 {
		t.Errorf("p95 = %v, want 0.003", got)
	}

	// A later window only sees what happened after the snapshot.
	for i := 0; i < 10; i++ {
		h.Update(10) // +Inf bucket: reported as the highest finite bound
	}
	rep = l.report(start.Add(20 * time.Second))
	if rep[0].Count != 10 || *rep[0].P50 != 0.004 {
		t.Errorf("windowed %+v, want 10 observations at the top bound", rep[0])
	}
	if rep[0].Overall == nil || *rep[0].Overall != 0.004 {
		t.Errorf("p99 since start %v", rep[0].Overall)
	}
}

func TestStageQuantileWithoutObservations(t *testing.T) {
	h := latency.NewWithBuckets(metrics.NewSet(), `liqbox_stage_idle_seconds`, "idle", []float64{1})
	rep := newStageLatency(time.Now(), h).report(time.Now())
	if len(rep) != 1 || rep[0].P50 != nil || rep[0].Count != 0 {
		t.Errorf("idle stage %+v, want null percentiles", rep[0])
	}
}

func TestUSDMinutes(t *testing.T) {
	var m usdMinutes
	now := time.Date(2026, 1, 2, 10, 30, 30, 0, time.UTC)
	ev := func(side event.Side, usd float64, at time.Time, flags event.Flags) *event.Event {
		return &event.Event{Side: side, Notional: usd, Basis: event.BasisLinear, TimeMs: at.UnixMilli(), Flags: flags}
	}
	m.Offer(ev(event.Long, 100, now, 0))
	m.Offer(ev(event.Long, 50, now.Add(-10*time.Second), 0))
	m.Offer(ev(event.Short, 70, now.Add(-time.Minute), 0))
	m.Offer(ev(event.Short, 1e9, now.Add(-2*time.Hour), 0)) // outside the hour
	m.Offer(ev(event.Long, 1e9, now, event.FlagBacklog))
	s := m.series(now)
	if s.StartMs != now.Truncate(time.Minute).Add(-59*time.Minute).UnixMilli() {
		t.Errorf("start %d", s.StartMs)
	}
	if s.Long[59] != 150 || s.LongN[59] != 2 || s.Short[58] != 70 || s.ShortN[58] != 1 {
		t.Errorf("last minutes long %v short %v", s.Long[58:], s.Short[58:])
	}
	var total float64
	for i := range s.Long {
		total += s.Long[i] + s.Short[i]
	}
	if total != 220 {
		t.Errorf("total %v, want 220 (backlog and old events excluded)", total)
	}
}

// TestUSDMinutesCoverage: the chart's sum is complete only when every
// venue that contributed to the hour is; a sampled one makes it a lower
// bound, and an hour without liquidations makes no claim.
func TestUSDMinutesCoverage(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 30, 30, 0, time.UTC)
	ev := func(v event.Venue, at time.Time) *event.Event {
		return &event.Event{Venue: v, Side: event.Long, Notional: 100, Basis: event.BasisLinear, TimeMs: at.UnixMilli()}
	}
	var m usdMinutes
	if s := m.series(now); s.Coverage != "" || s.CoverageNote != "" {
		t.Errorf("an empty hour: %q %q", s.Coverage, s.CoverageNote)
	}
	m.Offer(ev(event.Bybit, now))
	m.Offer(ev(event.Gate, now.Add(-time.Minute)))
	if s := m.series(now); s.Coverage != "complete" || s.CoverageNote != "totals are complete: every venue in them sends every liquidation" {
		t.Errorf("bybit and gate: %q %q", s.Coverage, s.CoverageNote)
	}
	m.Offer(ev(event.OKX, now.Add(-2*time.Minute)))
	m.Offer(ev(event.Aster, now.Add(-30*time.Minute)))
	if s := m.series(now); s.Coverage != "sampled" || s.CoverageNote != "totals are a lower bound: okx, aster send only some liquidations" {
		t.Errorf("with okx and aster: %q %q", s.Coverage, s.CoverageNote)
	}
	// Once their minutes leave the hour, the sum is complete again.
	if s := m.series(now.Add(59 * time.Minute)); s.Coverage != "complete" {
		t.Errorf("an hour later: %q %q", s.Coverage, s.CoverageNote)
	}
}
