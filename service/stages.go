package service

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/latency"
)

// usdMinutes tallies liquidated USD per minute by side for the status
// page's chart: one slot per minute of exchange time, the last hour kept.
// Offer takes a short lock and never allocates.
type usdMinutes struct {
	mu    sync.Mutex // guards slots
	slots [usdMinuteSlots]minuteSlot
}

const usdMinuteSlots = 60

type minuteSlot struct {
	minute int64      // Unix minute this slot holds; other values are stale
	usd    [2]float64 // [long, short]
	n      [2]int
	venues uint64 // bit v: Venue v contributed
}

// Offer implements pipeline.Sink. Events replayed from an exchange's
// snapshot at connect, and events of unknown size, are not counted.
func (m *usdMinutes) Offer(ev *event.Event) {
	if ev.Flags&event.FlagBacklog != 0 || !ev.NotionalKnown() || ev.TimeMs <= 0 {
		return
	}
	var side int
	switch ev.Side {
	case event.Long:
		side = 0
	case event.Short:
		side = 1
	default:
		return
	}
	minute := ev.TimeMs / 60000
	m.mu.Lock()
	s := &m.slots[minute%usdMinuteSlots]
	if s.minute != minute {
		if minute < s.minute {
			m.mu.Unlock()
			return // older than the hour the slot now holds
		}
		*s = minuteSlot{minute: minute}
	}
	s.usd[side] += ev.Notional
	s.n[side]++
	s.venues |= 1 << (ev.Venue & 63)
	m.mu.Unlock()
}

// USDMinutesJSON is the chart block of /api/status.
type USDMinutesJSON struct {
	StartMs int64     `json:"start_ms"` // start of the first minute, Unix ms
	Long    []float64 `json:"long_usd"`
	Short   []float64 `json:"short_usd"`
	LongN   []int     `json:"long_events"`
	ShortN  []int     `json:"short_events"`
	// Coverage is the hour's sum over the venues that contributed:
	// "complete", "sampled" (a lower bound) or "undocumented";
	// CoverageNote says it in words, naming the venues that make it so.
	Coverage     string `json:"coverage"`
	CoverageNote string `json:"coverage_note"`
}

// series returns the last hour ending with the minute of now, oldest first.
func (m *usdMinutes) series(now time.Time) USDMinutesJSON {
	last := now.UnixMilli() / 60000
	first := last - usdMinuteSlots + 1
	out := USDMinutesJSON{
		StartMs: first * 60000,
		Long:    make([]float64, usdMinuteSlots), Short: make([]float64, usdMinuteSlots),
		LongN: make([]int, usdMinuteSlots), ShortN: make([]int, usdMinuteSlots),
	}
	var venues uint64
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.slots {
		s := &m.slots[i]
		if s.minute < first || s.minute > last {
			continue
		}
		j := s.minute - first
		out.Long[j], out.Short[j] = s.usd[0], s.usd[1]
		out.LongN[j], out.ShortN[j] = s.n[0], s.n[1]
		venues |= s.venues
	}
	var sum event.CoverageSum
	for v := event.Venue(0); v < 64; v++ {
		if venues&(1<<v) != 0 {
			sum.Add(v, v.CoverageOver(time.UnixMilli(out.StartMs), now).Coverage)
		}
	}
	out.Coverage, out.CoverageNote = coverageName(sum), sum.Text("en")
	return out
}

// stageSource is one stage histogram the status page shows: its metric name
// (liqbox_stage_*_seconds) and its counts, read from the object.
type stageSource interface {
	Name() string
	Counts() latency.Counts
}

// stageLatency computes each stage's percentiles from the stage
// histograms themselves (the counts /metrics exports), so the page and
// Prometheus can never disagree about what was measured.
//
// The histograms are cumulative since start. To show the recent picture,
// stageLatency keeps snapshots of the bucket counts, taken at most every
// snapEvery when the state is read, and reports the difference between
// now and the oldest snapshot not older than window. With no snapshot that
// old (nobody looked for a while, or just started) the window is the whole
// uptime. Percentiles are interpolated linearly inside the bucket that
// holds them, as Prometheus's histogram_quantile does, so they are as
// precise as the buckets (5 µs … 30 s, about 2.5× apart).
type stageLatency struct {
	stages  []stageSource
	started time.Time

	mu    sync.Mutex // guards snaps
	snaps []stageSnap
}

const (
	latencyWindow = 5 * time.Minute
	snapEvery     = 15 * time.Second
)

type stageSnap struct {
	at     time.Time
	stages map[string]latency.Counts
}

// StageJSON is one row of /api/status's "stages".
type StageJSON struct {
	Name    string   `json:"name"`     // metric name without liqbox_stage_ and _seconds
	Count   float64  `json:"count"`    // observations in the window
	Window  float64  `json:"window_s"` // seconds the percentiles cover
	P50     *float64 `json:"p50_s"`    // null when Count is 0
	P95     *float64 `json:"p95_s"`
	P99     *float64 `json:"p99_s"`
	Overall *float64 `json:"p99_since_start_s"`
}

func newStageLatency(started time.Time, stages ...stageSource) *stageLatency {
	return &stageLatency{stages: stages, started: started}
}

// report returns every stage's percentiles at now, in the order of the
// event's path.
func (l *stageLatency) report(now time.Time) []StageJSON {
	cur := make(map[string]latency.Counts, len(l.stages))
	for _, s := range l.stages {
		cur[s.Name()] = s.Counts()
	}

	l.mu.Lock()
	var base stageSnap
	base.at = l.started
	for len(l.snaps) > 0 && now.Sub(l.snaps[0].at) > latencyWindow {
		l.snaps = l.snaps[1:]
	}
	if len(l.snaps) > 0 {
		base = l.snaps[0]
	}
	if len(l.snaps) == 0 || now.Sub(l.snaps[len(l.snaps)-1].at) >= snapEvery {
		l.snaps = append(l.snaps, stageSnap{at: now, stages: cur})
	}
	l.mu.Unlock()

	names := make([]string, 0, len(cur))
	for n := range cur {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return stageRank(names[i]) < stageRank(names[j]) })
	out := make([]StageJSON, 0, len(names))
	for _, n := range names {
		h := cur[n]
		win := h
		if b, ok := base.stages[n]; ok {
			win = h.Since(b)
		}
		row := StageJSON{
			Name:   strings.TrimSuffix(strings.TrimPrefix(n, "liqbox_stage_"), "_seconds"),
			Window: now.Sub(base.at).Seconds(),
			Count:  win.Total(),
		}
		row.P50, row.P95, row.P99 = win.Quantile(0.50), win.Quantile(0.95), win.Quantile(0.99)
		row.Overall = h.Quantile(0.99)
		out = append(out, row)
	}
	return out
}

// stageRank orders stages along the event's path.
func stageRank(name string) string {
	for i, s := range []string{"exchange_to_receive", "receive_to_pipeline", "receive_to_telegram",
		"telegram_request", "receive_to_terminal", "end_to_end"} {
		if strings.Contains(name, s) {
			return strconv.Itoa(i) + name
		}
	}
	return "9" + name
}
