package telegram

import (
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/metricdoc"
)

// Every metric the bot declares carries its help text, declared beside it,
// the per-chat gauges too.
func TestMetricsHaveHelp(t *testing.T) {
	set := metrics.NewSet()
	h := newHarness(t, newFakeAPI(t), newMemKV(), func(o *Options) { o.Metrics, o.MetricsChatLabels = set, true })
	h.command(owner, owner, "/start")
	if !strings.Contains(strings.Join(set.ListMetricNames(), " "), "liqbox_telegram_chat_queue_depth{") {
		t.Fatalf("no per-chat gauge after /start: %q", set.ListMetricNames())
	}
	if u := metricdoc.Undocumented(set); len(u) > 0 {
		t.Errorf("metrics without help: %q", u)
	}
}
