package latency

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestExpositionMatchesVictoriaMetrics: /metrics cannot tell a Histogram
// from the PrometheusHistogram it replaces, save for the help text.
func TestExpositionMatchesVictoriaMetrics(t *testing.T) {
	metrics.ExposeMetadata(true)
	defer metrics.ExposeMetadata(false)
	ours, theirs := metrics.NewSet(), metrics.NewSet()
	h := New(ours, "liqbox_stage_x_seconds", "What x measures.")
	p := theirs.NewPrometheusHistogramExt("liqbox_stage_x_seconds", Buckets)
	for _, v := range []float64{0, 3e-6, 5e-6, 7e-6, 0.3, 2, 31, 1e9, -1, math.NaN(), 12.5} {
		h.Update(v)
		p.Update(v)
	}
	var a, b bytes.Buffer
	ours.WritePrometheus(&a)
	theirs.WritePrometheus(&b)
	want := strings.Replace(b.String(), "# HELP liqbox_stage_x_seconds\n", "# HELP liqbox_stage_x_seconds What x measures.\n", 1)
	if a.String() != want {
		t.Errorf("exposition differs:\n got %s\nwant %s", a.String(), want)
	}
}

func TestQuantiles(t *testing.T) {
	h := NewWithBuckets(metrics.NewSet(), "liqbox_stage_demo_seconds", "demo", []float64{0.001, 0.002, 0.004})
	if q := h.Counts().Quantile(0.5); q != nil {
		t.Errorf("quantile without observations = %v, want nil", *q)
	}
	for range 90 {
		h.Update(0.0015) // (0.001, 0.002]
	}
	for range 10 {
		h.Update(0.003) // (0.002, 0.004]
	}
	c := h.Counts()
	if c.Total() != 100 {
		t.Fatalf("total %v", c.Total())
	}
	// p50: rank 50 of 90 in (1ms, 2ms] → 1ms + 1ms×50/90.
	if got, want := *c.Quantile(0.5), 0.001+0.001*50/90; math.Abs(got-want) > 1e-12 {
		t.Errorf("p50 = %v, want %v", got, want)
	}
	if got := *c.Quantile(0.95); math.Abs(got-0.003) > 1e-12 {
		t.Errorf("p95 = %v, want 0.003", got)
	}
	for range 10 {
		h.Update(10) // +Inf: reported as the highest finite bound
	}
	later := h.Counts().Since(c)
	if later.Total() != 10 || *later.Quantile(0.5) != 0.004 {
		t.Errorf("since: total %v p50 %v", later.Total(), *later.Quantile(0.5))
	}
}

func TestUpdateAllocatesNothing(t *testing.T) {
	h := New(metrics.NewSet(), "liqbox_stage_a_seconds", "a")
	if n := testing.AllocsPerRun(1000, func() { h.Update(42e-6) }); n != 0 {
		t.Errorf("Update allocates %v times", n)
	}
}

func BenchmarkUpdate(b *testing.B) {
	h := New(metrics.NewSet(), "liqbox_stage_a_seconds", "a")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Update(float64(i%1000) * 1e-6)
	}
}

// BenchmarkUpdateVictoriaMetrics is the PrometheusHistogram it replaces.
func BenchmarkUpdateVictoriaMetrics(b *testing.B) {
	h := metrics.NewSet().NewPrometheusHistogramExt("liqbox_stage_a_seconds", Buckets)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Update(float64(i%1000) * 1e-6)
	}
}

func TestUpdateDuration(t *testing.T) {
	h := NewWithBuckets(metrics.NewSet(), "liqbox_stage_d_seconds", "d", []float64{0.001, 10})
	h.UpdateDuration(time.Now().Add(-20 * time.Millisecond))
	if c := h.Counts(); c.Cum[0] != 0 || c.Cum[1] != 1 {
		t.Errorf("20 ms ago counted as %v, want in (1 ms, 10 s]", c)
	}
}
