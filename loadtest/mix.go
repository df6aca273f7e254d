package loadtest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/demo"
	"github.com/liqbox/liqbox/event"
)

// The mix pattern spreads the steady rate over every venue, each through
// its own loopback exchange speaking that venue's frame format, in the
// whole market's shares (demo.Shares: Binance USD-M the largest), each
// sample row translated as the demo translates it (demo.Market).

// mixLane is one venue's share of the mix: its liquidations, cycled, and
// how many frames it sent.
type mixLane struct {
	venue event.Venue
	rows  []demo.Liquidation
	i     int
	sent  int64
}

// mixKey identifies a liquidation the way the log shows it, for matching
// logged events with what was sent.
type mixKey struct {
	venue event.Venue
	sym   string
	side  event.Side
	price int64 // price × 10⁴, rounded
}

func mixPriceKey(p float64) int64 { return int64(math.Round(p * 1e4)) }

// mixSource builds every venue's liquidations from the embedded Binance
// sample. A venue never repeats the same (symbol, side, price, size)
// within its cycle, so two frames in one millisecond are never one
// liquidation to the pipeline's dedup.
type mixSource struct {
	lanes  []*mixLane // in demo.Shares order
	byVen  map[event.Venue]*mixLane
	sched  *demo.Schedule
	expect map[mixKey][]float64 // USD notionals the decoders must produce
}

func newMixSource() (*mixSource, error) {
	fs, err := newFrameSource()
	if err != nil {
		return nil, err
	}
	mk, err := demo.NewMarket(fs.rows)
	if err != nil {
		return nil, fmt.Errorf("cannot build the mix: %w", err)
	}
	m := &mixSource{byVen: map[event.Venue]*mixLane{}, sched: demo.NewSchedule(), expect: map[mixKey][]float64{}}
	for _, s := range demo.Shares() {
		l := &mixLane{venue: s.Venue}
		type ident struct {
			sym, price, qty string
			side            event.Side
		}
		seen := map[ident]bool{}
		for i := range fs.rows {
			liq := mk.Translate(s.Venue, &fs.rows[i], i)
			id := ident{liq.Liq.Symbol, liq.Liq.Price, liq.Liq.Qty, liq.Liq.Side}
			if seen[id] {
				continue
			}
			seen[id] = true
			l.rows = append(l.rows, liq)
			k := mixKey{s.Venue, liq.Liq.Symbol, liq.Liq.Side, mixPriceKey(liq.Price)}
			m.expect[k] = append(m.expect[k], liq.USD)
		}
		m.lanes = append(m.lanes, l)
		m.byVen[s.Venue] = l
	}
	return m, nil
}

// pick returns the lane whose turn it is.
func (m *mixSource) pick() *mixLane { return m.byVen[m.sched.Next()] }

// matches reports whether a logged event is one of the liquidations sent:
// same venue, symbol, side and price, and the USD notional the venue's
// contract terms give.
func (m *mixSource) matches(ev *event.Event) bool {
	if math.IsNaN(ev.Notional) {
		return false
	}
	for _, n := range m.expect[mixKey{ev.Venue, ev.Symbol.String(), ev.Side, mixPriceKey(ev.Price)}] {
		if math.Abs(ev.Notional-n) <= 1e-9*math.Max(1, n) {
			return true
		}
	}
	return false
}

// next returns the lane's next liquidation.
func (l *mixLane) next() *demo.Liquidation {
	r := &l.rows[l.i]
	l.i++
	if l.i == len(l.rows) {
		l.i = 0
	}
	return r
}

// emitMix is emit over every venue: rate frames per second in total for d,
// each frame to the loopback exchange of the venue whose turn it is.
func emitMix(ctx context.Context, mx *demo.Exchanges, src *mixSource, rate int, d time.Duration) int64 {
	return pace(ctx, rate, d, emitTick(rate), func(nowMs int64) {
		l := src.pick()
		mx.Send(l.next(), nowMs)
		l.sent++
	})
}

// venueCounts sums the counters of set named name{…venue="V"…} by venue.
func venueCounts(set *metrics.Set, name string) map[event.Venue]float64 {
	out := map[event.Venue]float64{}
	for _, n := range set.ListMetricNames() {
		if !strings.HasPrefix(n, name+"{") {
			continue
		}
		_, rest, ok := strings.Cut(n, `venue="`)
		if !ok {
			continue
		}
		vn, _, _ := strings.Cut(rest, `"`)
		if v, ok := event.ParseVenue(vn); ok {
			out[v] += float64(set.GetOrCreateCounter(n).Get())
		}
	}
	return out
}

// tally counts a logged event against its venue and checks it is one of
// the liquidations sent.
func (m *mixResult) tally(ev *event.Event) {
	v := m.lane(ev.Venue)
	if v == nil || !m.src.matches(ev) {
		m.mismatch++
	}
	if v == nil {
		return
	}
	v.logged++
	switch ev.Side {
	case event.Long:
		v.long++
	case event.Short:
		v.short++
	}
	if math.IsNaN(ev.Notional) {
		v.unknownUSD++
	}
}

// print writes the per-venue table of a mix run.
func (m *mixResult) print(p func(string, ...any)) {
	p("per venue         %-14s %8s %9s %8s %7s %7s %7s  %s", "venue", "sent", "decoded*", "logged", "long", "short", "no-USD", "terminal p50 / p99")
	for _, v := range m.venues {
		p("                  %-14s %8d %9.0f %8d %7d %7d %7d  %v / %v", v.venue, v.sent, v.decoded, v.logged, v.long, v.short, v.unknownUSD,
			pct(v.onBox, 50), pct(v.onBox, 99))
	}
	p("                  *decoded counts every connection's copy (USD-M runs --conns of them); logged events matching no frame sent: %d", m.mismatch)
}
