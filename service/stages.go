package service

import (
	"bufio"
	"bytes"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
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
	m.mu.Unlock()
}

// USDMinutesJSON is the chart block of /api/status.
type USDMinutesJSON struct {
	StartMs int64     `json:"start_ms"` // start of the first minute, Unix ms
	Long    []float64 `json:"long_usd"`
	Short   []float64 `json:"short_usd"`
	LongN   []int     `json:"long_events"`
	ShortN  []int     `json:"short_events"`
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
	}
	return out
}

// stageLatency computes each stage's percentiles from the Prometheus
// histograms /metrics already exports (every liqbox_stage_*_seconds), so
// the page and Prometheus can never disagree about what was measured.
//
// The histograms are cumulative since start. To show the recent picture,
// stageLatency keeps snapshots of the bucket counts, taken at most every
// snapEvery when /api/status is read, and reports the difference between
// now and the oldest snapshot not older than window. With no snapshot that
// old (nobody looked for a while, or just started) the window is the whole
// uptime. Percentiles are interpolated linearly inside the bucket that
// holds them, as Prometheus's histogram_quantile does, so they are as
// precise as the buckets (5 µs … 30 s, about 2.5× apart).
type stageLatency struct {
	set     *metrics.Set
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
	stages map[string]*bucketCounts
}

// bucketCounts is one histogram: upper bounds and cumulative counts, the
// last bound +Inf.
type bucketCounts struct {
	le  []float64
	cum []float64
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

func newStageLatency(set *metrics.Set, started time.Time) *stageLatency {
	return &stageLatency{set: set, started: started}
}

// report returns every stage's percentiles at now, in a stable order.
func (l *stageLatency) report(now time.Time) []StageJSON {
	var buf bytes.Buffer
	l.set.WritePrometheus(&buf)
	cur := parseStageBuckets(buf.Bytes())

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
		if b := base.stages[n]; b != nil && len(b.cum) == len(h.cum) {
			win = &bucketCounts{le: h.le, cum: make([]float64, len(h.cum))}
			for i := range h.cum {
				win.cum[i] = h.cum[i] - b.cum[i]
			}
		}
		row := StageJSON{
			Name:   strings.TrimSuffix(strings.TrimPrefix(n, "liqbox_stage_"), "_seconds"),
			Window: now.Sub(base.at).Seconds(),
		}
		if len(win.cum) > 0 {
			row.Count = win.cum[len(win.cum)-1]
		}
		row.P50, row.P95, row.P99 = win.quantile(0.50), win.quantile(0.95), win.quantile(0.99)
		row.Overall = h.quantile(0.99)
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

// quantile interpolates the q-quantile, nil without observations. A value
// in the +Inf bucket is reported as the highest finite bound.
func (h *bucketCounts) quantile(q float64) *float64 {
	if len(h.cum) == 0 {
		return nil
	}
	total := h.cum[len(h.cum)-1]
	if total <= 0 {
		return nil
	}
	rank := q * total
	lo, prev := 0.0, 0.0
	for i, c := range h.cum {
		if c >= rank {
			hi := h.le[i]
			if math.IsInf(hi, 1) {
				v := lo
				return &v
			}
			v := lo
			if c > prev {
				v = lo + (hi-lo)*(rank-prev)/(c-prev)
			}
			return &v
		}
		lo, prev = h.le[i], c
	}
	v := lo
	return &v
}

// parseStageBuckets reads the liqbox_stage_*_seconds_bucket lines of a
// Prometheus text exposition. Stage histograms carry no labels but le.
func parseStageBuckets(text []byte) map[string]*bucketCounts {
	out := map[string]*bucketCounts{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "liqbox_stage_") {
			continue
		}
		name, rest, ok := strings.Cut(line, `_bucket{le="`)
		if !ok {
			continue
		}
		leStr, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		le, err1 := strconv.ParseFloat(leStr, 64)
		v, err2 := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		h := out[name]
		if h == nil {
			h = &bucketCounts{}
			out[name] = h
		}
		h.le = append(h.le, le)
		h.cum = append(h.cum, v)
	}
	return out
}
