package enrich

import (
	"testing"

	"github.com/liqbox/liqbox/metricdoc"
)

// Every metric the enricher declares carries its help text, declared
// beside it.
func TestMetricsHaveHelp(t *testing.T) {
	env := prepare(t, "http://127.0.0.1:1", nil)
	if len(env.set.ListMetricNames()) == 0 {
		t.Fatal("nothing declared")
	}
	if u := metricdoc.Undocumented(env.set); len(u) > 0 {
		t.Errorf("metrics without help: %q", u)
	}
}
