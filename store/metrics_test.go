package store

import (
	"path/filepath"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/metricdoc"
)

// Every metric the store declares carries its help text, declared beside it.
func TestMetricsHaveHelp(t *testing.T) {
	set := metrics.NewSet()
	s, err := Open(filepath.Join(t.TempDir(), "liqbox.db"), Options{Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(set.ListMetricNames()) == 0 {
		t.Fatal("nothing declared")
	}
	if u := metricdoc.Undocumented(set); len(u) > 0 {
		t.Errorf("metrics without help: %q", u)
	}
}
