package ingest_test

import (
	"testing"

	"github.com/VictoriaMetrics/metrics"

	liqembed "github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/metricdoc"
)

// Every metric ingest declares carries its help text (what /metrics and
// promtool show), declared beside it.
func TestMetricsHaveHelp(t *testing.T) {
	set := metrics.NewSet()
	spec := ingest.BinanceUSDMSpec(ingest.VenueConfig{StreamURL: "ws://127.0.0.1:1/market/stream?streams=!forceOrder@arr"})
	ingest.NewStream(spec, ingest.StreamOptions{Conns: 2, Metrics: set})
	if _, err := ingest.NewInstruments(event.BinanceUSDM, ingest.VenueConfig{Snapshots: liqembed.Instruments, Metrics: set}); err != nil {
		t.Fatal(err)
	}
	if len(set.ListMetricNames()) == 0 {
		t.Fatal("nothing declared")
	}
	if u := metricdoc.Undocumented(set); len(u) > 0 {
		t.Errorf("metrics without help: %q", u)
	}
}
