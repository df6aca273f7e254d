package latency

import (
	"io"
	"sync"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/metricdoc"
)

// Vec is a family of histograms that share a name, a help text and the
// standard Buckets and differ by their labels (per venue, per source): one
// # HELP and # TYPE line for the family, as Prometheus wants, and each
// member readable as counts like any Histogram.
type Vec struct {
	name, help string

	mu     sync.Mutex // guards series and labels
	series []*Histogram
	labels []string
}

// NewVec declares the family name (without labels) with its help text on
// set; its members are created by With.
func NewVec(set *metrics.Set, name, help string) *Vec {
	v := &Vec{name: name, help: help}
	set.RegisterMetricsWriter(v.write)
	metricdoc.Describe(set, name, help) // for metricdoc.Families, as New
	return v
}

// With returns the member with labels (`venue="bybit",first="relay"`),
// creating it on first use. Call it where the member is set up, not per
// observation: it takes a lock and compares strings.
func (v *Vec) With(labels string) *Histogram {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i, l := range v.labels {
		if l == labels {
			return v.series[i]
		}
	}
	h := &Histogram{name: v.name, help: v.help, upper: Buckets, counts: make([]uint64, len(Buckets)+1)}
	v.series = append(v.series, h)
	v.labels = append(v.labels, labels)
	return h
}

func (v *Vec) write(w io.Writer) {
	v.mu.Lock()
	series, labels := v.series, v.labels
	v.mu.Unlock()
	if len(series) == 0 {
		return
	}
	writeMeta(w, v.name, v.help)
	for i, h := range series {
		h.writeSeries(w, labels[i])
	}
}
