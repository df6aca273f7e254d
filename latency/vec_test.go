package latency

import (
	"bytes"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"
)

// TestVecExpositionMatchesVictoriaMetrics: a family of labelled members
// exports as VictoriaMetrics exports labelled PrometheusHistograms of one
// family, with one # HELP line carrying the text.
func TestVecExpositionMatchesVictoriaMetrics(t *testing.T) {
	metrics.ExposeMetadata(true)
	defer metrics.ExposeMetadata(false)
	ours, theirs := metrics.NewSet(), metrics.NewSet()
	v := NewVec(ours, "liqbox_source_lead_seconds", "How much the first copy led.")
	a, b := v.With(`venue="bybit",first="relay"`), v.With(`venue="okx",first="direct"`)
	if v.With(`venue="bybit",first="relay"`) != a {
		t.Fatal("With made a second member for the same labels")
	}
	pa := theirs.NewPrometheusHistogramExt(`liqbox_source_lead_seconds{venue="bybit",first="relay"}`, Buckets)
	pb := theirs.NewPrometheusHistogramExt(`liqbox_source_lead_seconds{venue="okx",first="direct"}`, Buckets)
	for _, x := range []float64{0.003, 0.04, 0.04, 1.5} {
		a.Update(x)
		pa.Update(x)
	}
	b.Update(0.25)
	pb.Update(0.25)
	var got, want bytes.Buffer
	ours.WritePrometheus(&got)
	theirs.WritePrometheus(&want)
	w := strings.Replace(want.String(), "# HELP liqbox_source_lead_seconds\n", "# HELP liqbox_source_lead_seconds How much the first copy led.\n", 1)
	if got.String() != w {
		t.Errorf("exposition differs:\n got %s\nwant %s", got.String(), w)
	}
	if q := a.Counts().Quantile(0.5); q == nil || *q < 0.025 || *q > 0.05 {
		t.Errorf("member p50 = %v, want within the 25–50 ms bucket", q)
	}
}
