// Package latency is the stage histogram: a Prometheus histogram of
// seconds, declared once with its help text, that /metrics exports and
// that can be read back as counts, so the status page's percentiles come
// from the very counts Prometheus scrapes instead of from re-parsing the
// exposition.
//
// Update costs what VictoriaMetrics' PrometheusHistogram.Update costs (a
// bucket search and one uncontended lock) and allocates nothing.
package latency

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/metricdoc"
)

// Buckets are the `le` bounds of every stage histogram, 5 µs to 30 s:
// fine enough for on-box microseconds and for network seconds, and shared
// so stages can be compared bucket by bucket.
var Buckets = []float64{
	5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
	1, 2.5, 5, 10, 30,
}

// Histogram counts observations in seconds into Buckets.
type Histogram struct {
	name, help string
	upper      []float64

	mu     sync.Mutex // guards counts and sum
	counts []uint64   // per bucket, not cumulative; the last is above every bound (+Inf)
	sum    float64
}

// New declares the histogram name (without labels) with its help text on
// set, with the standard Buckets.
func New(set *metrics.Set, name, help string) *Histogram {
	return NewWithBuckets(set, name, help, Buckets)
}

// NewWithBuckets is New with other bounds (ascending).
func NewWithBuckets(set *metrics.Set, name, help string, upper []float64) *Histogram {
	h := &Histogram{name: name, help: help, upper: upper, counts: make([]uint64, len(upper)+1)}
	set.RegisterMetricsWriter(h.write)
	// The histogram writes its own # HELP line; metricdoc hears of the
	// family too, so that its listing of the set's families has it.
	metricdoc.Describe(set, name, help)
	return h
}

// Name is the metric name.
func (h *Histogram) Name() string { return h.name }

// Update records v seconds; negative values and NaN are ignored, as
// Prometheus histograms ignore them.
func (h *Histogram) Update(v float64) {
	if math.IsNaN(v) || v < 0 {
		return
	}
	i := len(h.upper)
	for j, ub := range h.upper {
		if v <= ub {
			i = j
			break
		}
	}
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.mu.Unlock()
}

// UpdateDuration records the seconds since start.
func (h *Histogram) UpdateDuration(start time.Time) { h.Update(time.Since(start).Seconds()) }

// Counts is a histogram read back: the upper bounds, the last +Inf, and
// the cumulative count of observations at or below each.
type Counts struct {
	Le  []float64
	Cum []float64
}

// Counts reads the histogram.
func (h *Histogram) Counts() Counts {
	c := Counts{Le: make([]float64, len(h.counts)), Cum: make([]float64, len(h.counts))}
	copy(c.Le, h.upper)
	c.Le[len(h.upper)] = math.Inf(1)
	h.mu.Lock()
	var cum uint64
	for i, n := range h.counts {
		cum += n
		c.Cum[i] = float64(cum)
	}
	h.mu.Unlock()
	return c
}

// Total is the number of observations.
func (c Counts) Total() float64 {
	if len(c.Cum) == 0 {
		return 0
	}
	return c.Cum[len(c.Cum)-1]
}

// Since is what was observed after base (an earlier read of the same
// histogram); a base of another shape is ignored.
func (c Counts) Since(base Counts) Counts {
	if len(base.Cum) != len(c.Cum) {
		return c
	}
	out := Counts{Le: c.Le, Cum: make([]float64, len(c.Cum))}
	for i := range c.Cum {
		out.Cum[i] = c.Cum[i] - base.Cum[i]
	}
	return out
}

// Quantile interpolates the q-quantile linearly inside the bucket that
// holds it, as Prometheus's histogram_quantile does; nil without
// observations. A value in the +Inf bucket is reported as the highest
// finite bound.
func (c Counts) Quantile(q float64) *float64 {
	total := c.Total()
	if total <= 0 {
		return nil
	}
	rank := q * total
	lo, prev := 0.0, 0.0
	for i, n := range c.Cum {
		if n >= rank {
			hi := c.Le[i]
			v := lo
			if !math.IsInf(hi, 1) && n > prev {
				v = lo + (hi-lo)*(rank-prev)/(n-prev)
			}
			return &v
		}
		lo, prev = c.Le[i], n
	}
	v := lo
	return &v
}

// write exports the histogram as VictoriaMetrics writes a
// PrometheusHistogram, with the help text on the # HELP line.
func (h *Histogram) write(w io.Writer) {
	writeMeta(w, h.name, h.help)
	h.writeSeries(w, "")
}

// writeMeta writes a family's # HELP and # TYPE lines when metadata is
// exposed.
func writeMeta(w io.Writer, name, help string) {
	var meta bytes.Buffer
	metrics.WriteMetadataIfNeeded(&meta, name, "histogram")
	if meta.Len() > 0 {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	}
}

// writeSeries writes the buckets, sum and count, with labels (`k="v",…`,
// or empty) before le.
func (h *Histogram) writeSeries(w io.Writer, labels string) {
	le, brace := "{le=", ""
	if labels != "" {
		le, brace = "{"+labels+",le=", "{"+labels+"}"
	}
	h.mu.Lock()
	var cum uint64
	for i, ub := range h.upper {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket%s\"%v\"} %d\n", h.name, le, ub, cum)
	}
	cum += h.counts[len(h.upper)]
	sum := h.sum
	h.mu.Unlock()
	fmt.Fprintf(w, "%s_bucket%s\"+Inf\"} %d\n", h.name, le, cum)
	if float64(int64(sum)) == sum {
		fmt.Fprintf(w, "%s_sum%s %d\n", h.name, brace, int64(sum))
	} else {
		fmt.Fprintf(w, "%s_sum%s %g\n", h.name, brace, sum)
	}
	fmt.Fprintf(w, "%s_count%s %d\n", h.name, brace, cum)
}
