// Package metricdoc declares metrics on a *metrics.Set together with their
// help text, and writes the set's Prometheus exposition with that text on
// each family's # HELP line, so the text sits next to the declaration and
// /metrics explains itself (and passes `promtool check metrics`).
//
// VictoriaMetrics/metrics, with metrics.ExposeMetadata(true), writes a
// # HELP line with no text for every family and has no place for the text
// itself. The text travels with the set it was declared on, not in a
// registry of its own: each declaration registers a metrics writer on the
// set that writes nothing to an ordinary io.Writer and hands its family's
// help to WritePrometheus, which fills the empty # HELP lines. Code that
// writes the set itself, or reads its counters by name, sees what it saw
// before.
//
// Declarations are made once, in constructors; the metrics they return are
// the library's own, so updating them costs what it always did.
package metricdoc

import (
	"bytes"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// Counter declares the counter name (with its labels) on set, with the
// help text of its family.
func Counter(set *metrics.Set, name, help string) *metrics.Counter {
	Describe(set, name, help)
	return set.NewCounter(name)
}

// FloatCounter declares the float counter name on set, with its help.
func FloatCounter(set *metrics.Set, name, help string) *metrics.FloatCounter {
	Describe(set, name, help)
	return set.NewFloatCounter(name)
}

// Gauge declares the gauge name on set, with its help; f reads it (nil:
// a gauge set with Set).
func Gauge(set *metrics.Set, name, help string, f func() float64) *metrics.Gauge {
	Describe(set, name, help)
	return set.NewGauge(name, f)
}

// Histogram declares the Prometheus histogram name on set with the
// ascending bucket bounds upper, with its help.
func Histogram(set *metrics.Set, name, help string, upper []float64) *metrics.PrometheusHistogram {
	Describe(set, name, help)
	return set.NewPrometheusHistogramExt(name, upper)
}

// Describe gives the family of name (name without its labels) its help
// text on set, for series declared another way: the several series of one
// family declared in a loop, or series created later with GetOrCreate.
// Declaring a family's help more than once is harmless; the first text
// wins. The help is one line of plain text; an empty one is a programming
// error and panics.
func Describe(set *metrics.Set, name, help string) {
	if help == "" {
		panic("BUG: metricdoc: no help text for " + name)
	}
	fam, help := family(name), helpEscaper.Replace(help)
	set.RegisterMetricsWriter(func(w io.Writer) {
		if c, ok := w.(*collector); ok {
			c.describe(fam, help)
		}
	})
}

// helpEscaper escapes a help text as the exposition format wants it.
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

// WritePrometheus writes set's metrics to w as set.WritePrometheus does,
// with the help text declared for each family on its # HELP line.
func WritePrometheus(w io.Writer, set *metrics.Set) {
	c := collect(set)
	w.Write(fill(c.Bytes(), func(fam string) string { return c.help[fam] }, false))
}

// WriteProcessMetrics writes the Go runtime (go_*) and process (process_*)
// metrics as metrics.WriteProcessMetrics does, with help lines that say
// where they are defined, and the cumulative /proc counts typed as
// counters: the library types them as gauges, but they only ever grow, so
// rate() is what an operator wants.
func WriteProcessMetrics(w io.Writer) {
	var buf bytes.Buffer
	metrics.WriteProcessMetrics(&buf)
	w.Write(fill(buf.Bytes(), processHelp, true))
}

func processHelp(fam string) string {
	switch {
	case strings.HasPrefix(fam, "go_"):
		return "Go runtime metric (runtime/metrics, written by VictoriaMetrics/metrics)."
	case strings.HasPrefix(fam, "process_"):
		return "Process metric from /proc (written by VictoriaMetrics/metrics)."
	}
	return ""
}

// Undocumented lists the families of the metrics declared on set that
// have no help text, sorted: what a test of a component's declarations
// expects to be empty. It needs no metadata exposed.
func Undocumented(set *metrics.Set) []string {
	out := collect(set).undocumented(set)
	slices.Sort(out)
	return out
}

// Families lists, sorted, every family declared or described on set: those
// with a series now, and those described up front whose series come later
// (per chat, per remote box). What a test of an operator's reference
// checks against.
func Families(set *metrics.Set) []string {
	c := collect(set)
	out := append(slices.Collect(maps.Keys(c.help)), c.undocumented(set)...)
	slices.Sort(out)
	return out
}

// collect writes set's exposition and its families' help to a collector.
func collect(set *metrics.Set) *collector {
	c := &collector{help: map[string]string{}}
	set.WritePrometheus(c)
	return c
}

// undocumented lists the families of set's series that c has no help for.
func (c *collector) undocumented(set *metrics.Set) []string {
	var out []string
	for _, name := range set.ListMetricNames() {
		if fam := family(name); c.help[fam] == "" && !slices.Contains(out, fam) {
			out = append(out, fam)
		}
	}
	return out
}

// collector receives a set's exposition and, from the writers Describe
// registered, the help of each family.
type collector struct {
	bytes.Buffer
	help map[string]string // family → escaped help
}

func (c *collector) describe(fam, help string) {
	if _, ok := c.help[fam]; !ok {
		c.help[fam] = help
	}
}

// fill copies an exposition, appending help(family) to each # HELP line
// that has no text; with counters, it retypes process_*_total gauges as
// counters.
func fill(src []byte, help func(fam string) string, counters bool) []byte {
	out := make([]byte, 0, len(src)+len(src)/4)
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		if name, ok := bytes.CutPrefix(line, []byte("# TYPE process_")); counters && ok && bytes.HasSuffix(name, []byte("_total gauge")) {
			out = append(out, "# TYPE process_"...)
			out = append(out, name[:len(name)-len("gauge")]...)
			out = append(out, "counter\n"...)
			continue
		}
		out = append(out, line...)
		if name, ok := bytes.CutPrefix(line, []byte("# HELP ")); ok && bytes.IndexByte(name, ' ') < 0 {
			if h := help(string(name)); h != "" {
				out = append(out, ' ')
				out = append(out, h...)
			}
		}
		out = append(out, '\n')
	}
	return out
}

// family is a series name without its labels.
func family(name string) string {
	if i := strings.IndexByte(name, '{'); i >= 0 {
		return name[:i]
	}
	return name
}
