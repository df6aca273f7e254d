package metricdoc_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/metricdoc"
)

// The package's tests expose metadata, as the command line does; none of
// them runs in parallel.
func TestMain(m *testing.M) {
	metrics.ExposeMetadata(true)
	os.Exit(m.Run())
}

func TestHelpOnEveryFamilyOnce(t *testing.T) {
	set := metrics.NewSet()
	for _, v := range []string{"a", "b"} { // two components declaring one family
		metricdoc.Counter(set, `x_frames_total{venue="`+v+`"}`, "Frames read, per venue.").Add(2)
	}
	metricdoc.FloatCounter(set, "x_spent_usd_total", `Dollars spent \ burnt,
per request.`).Add(1.5)
	metricdoc.Gauge(set, "x_depth", "Events waiting.", func() float64 { return 3 })
	metricdoc.Histogram(set, "x_commit_seconds", "One commit.", []float64{0.1, 1}).Update(0.5)
	metricdoc.Describe(set, "x_wins_total", "Wins, per connection.")
	set.GetOrCreateCounter(`x_wins_total{conn="1"}`).Inc() // created later, described up front

	var got bytes.Buffer
	metricdoc.WritePrometheus(&got, set)
	for _, want := range []string{
		"# HELP x_frames_total Frames read, per venue.\n# TYPE x_frames_total counter\n" +
			"x_frames_total{venue=\"a\"} 2\nx_frames_total{venue=\"b\"} 2\n",
		"# HELP x_spent_usd_total Dollars spent \\\\ burnt,\\nper request.\n",
		"# HELP x_depth Events waiting.\n# TYPE x_depth gauge\nx_depth 3\n",
		"# HELP x_commit_seconds One commit.\n# TYPE x_commit_seconds histogram\n",
		"# HELP x_wins_total Wins, per connection.\n# TYPE x_wins_total counter\nx_wins_total{conn=\"1\"} 1\n",
	} {
		if !strings.Contains(got.String(), want) {
			t.Errorf("exposition lacks %q:\n%s", want, got.String())
		}
	}
	if n := strings.Count(got.String(), "# HELP x_frames_total"); n != 1 {
		t.Errorf("%d help lines for x_frames_total, want 1", n)
	}

	// Everything but the help text is what the library writes, and a
	// plain write of the set is untouched.
	var plain bytes.Buffer
	set.WritePrometheus(&plain)
	var stripped []string
	for _, line := range strings.Split(got.String(), "\n") {
		if strings.HasPrefix(line, "# HELP ") {
			line = strings.Join(strings.Fields(line)[:3], " ")
		}
		stripped = append(stripped, line)
	}
	if s := strings.Join(stripped, "\n"); s != plain.String() {
		t.Errorf("with the help removed:\n%s\nthe library writes:\n%s", s, plain.String())
	}
	if strings.Contains(plain.String(), "Frames read") {
		t.Error("set.WritePrometheus carries help text; only metricdoc.WritePrometheus should")
	}
}

func TestUndocumented(t *testing.T) {
	set := metrics.NewSet()
	metricdoc.Counter(set, `x_ok_total{a="1"}`, "Fine.")
	set.NewCounter(`x_bare_total{a="1"}`)
	set.NewCounter(`x_bare_total{a="2"}`)
	set.NewGauge("x_alone", func() float64 { return 0 })
	metricdoc.Describe(set, "x_later_total", "Described before it exists.")
	set.GetOrCreateCounter("x_later_total")
	got := metricdoc.Undocumented(set)
	if strings.Join(got, ",") != "x_alone,x_bare_total" {
		t.Errorf("Undocumented = %q, want [x_alone x_bare_total]", got)
	}
}

func TestEmptyHelpPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a declaration without help did not panic")
		}
	}()
	metricdoc.Counter(metrics.NewSet(), "x_total", "")
}

func TestProcessMetrics(t *testing.T) {
	var buf bytes.Buffer
	metricdoc.WriteProcessMetrics(&buf)
	text := buf.String()
	if !strings.Contains(text, "# HELP go_goroutines Go runtime metric (runtime/metrics, written by VictoriaMetrics/metrics).\n") {
		t.Error("go_goroutines lacks its help")
	}
	for _, line := range strings.Split(text, "\n") {
		if name, ok := strings.CutPrefix(line, "# HELP "); ok && !strings.Contains(name, " ") {
			t.Errorf("%s has no help text", name)
		}
		if strings.HasPrefix(line, "# TYPE process_") && strings.HasSuffix(line, "_total gauge") {
			t.Errorf("%q: a cumulative count typed as a gauge", line)
		}
	}
	if !strings.Contains(text, "_total counter\n") {
		t.Error("no process_*_total counter at all")
	}
}

func ExampleCounter() {
	set := metrics.NewSet()
	frames := metricdoc.Counter(set, `liqbox_x_frames_total{venue="binance"}`, "Frames read, per venue.")
	frames.Inc()
	metricdoc.WritePrometheus(os.Stdout, set)
	// Output:
	// # HELP liqbox_x_frames_total Frames read, per venue.
	// # TYPE liqbox_x_frames_total counter
	// liqbox_x_frames_total{venue="binance"} 1
}

func TestFamilies(t *testing.T) {
	set := metrics.NewSet()
	metricdoc.Counter(set, `x_ok_total{a="1"}`, "Fine.")
	metricdoc.Counter(set, `x_ok_total{a="2"}`, "Fine.")
	set.NewGauge("x_bare", func() float64 { return 0 })
	metricdoc.Describe(set, "x_later_total", "Per chat, created later.")
	if got := strings.Join(metricdoc.Families(set), ","); got != "x_bare,x_later_total,x_ok_total" {
		t.Errorf("Families = %s, want x_bare,x_later_total,x_ok_total", got)
	}
}
