package telegram

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/liqbox/liqbox/asset"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
)

const maxWindow = 7 * 24 * time.Hour

// windowArg reads an optional [1h|24h|7d] argument.
func windowArg(args []string, def time.Duration) (time.Duration, bool) {
	if len(args) == 0 {
		return def, true
	}
	if len(args) > 1 {
		return 0, false
	}
	return parseWindow(strings.ToLower(args[0]), maxWindow)
}

type symSide struct {
	sym  string
	side event.Side
}

type agg struct {
	n   int
	usd float64
}

func (b *Bot) statsCmd(args []string, t *texts) string {
	win, ok := windowArg(args, 24*time.Hour)
	if !ok {
		return escape(t.StatsUsage)
	}
	if b.o.History == nil {
		return escape(t.NoHistory)
	}
	to := time.Now()
	from := to.Add(-win)
	by := map[symSide]*agg{}
	var total [3]agg
	var venues [256]agg // by event.Venue
	var exch []time.Duration
	// The top assets are over the last hour and day whatever the window:
	// one scan covers both.
	assets := asset.NewTotals(to)
	scanFrom := to.Add(-24 * time.Hour)
	if from.Before(scanFrom) {
		scanFrom = from
	}
	err := b.o.History.Scan(scanFrom, to, func(ev *event.Event) error {
		assets.Add(ev)
		if ev.RecvNs < from.UnixNano() {
			return nil
		}
		k := symSide{ev.Symbol.String(), ev.Side}
		a := by[k]
		if a == nil {
			a = &agg{}
			by[k] = a
		}
		side := ev.Side
		if side > event.Short {
			side = event.SideUnknown
		}
		a.n++
		total[side].n++
		venues[ev.Venue].n++
		if ev.NotionalKnown() {
			a.usd += ev.Notional
			total[side].usd += ev.Notional
			venues[ev.Venue].usd += ev.Notional
		}
		if d := time.Duration(ev.RecvNs - ev.TimeMs*int64(time.Millisecond)); d >= 0 && d < time.Hour {
			exch = append(exch, d)
		}
		return nil
	})
	if err != nil {
		b.log.Error("cannot scan the event log for /stats", "err", err)
		return escape(t.NoHistory)
	}
	var sb strings.Builder
	sb.WriteString("<b>" + escape(fmt.Sprintf(t.StatsTitle, windowName(win))) + "</b>\n")
	if len(by) == 0 {
		sb.WriteString(escape(t.StatsNone))
	} else {
		fmt.Fprintf(&sb, "🔴 %s: %d · %s\n🟢 %s: %d · %s\n", escape(t.StatsLongs), total[event.Long].n, usd(total[event.Long].usd, ""),
			escape(t.StatsShorts), total[event.Short].n, usd(total[event.Short].usd, ""))
		sb.WriteString(venueCoverage(&venues, from, to, t))
		keys := make([]symSide, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return by[keys[i]].usd > by[keys[j]].usd })
		if len(keys) > 20 {
			keys = keys[:20]
		}
		sb.WriteString("<pre>")
		for _, k := range keys {
			fmt.Fprintf(&sb, "%-14s %-5s %5d %9s\n", escape(clip(k.sym, 14)), t.side(k.side), by[k].n, usd(by[k].usd, ""))
		}
		sb.WriteString("</pre>")
	}
	if top := assets.Top(10); len(top) > 0 {
		sb.WriteString("\n<b>" + escape(t.StatsAssets) + "</b>\n<pre>")
		fmt.Fprintf(&sb, "%-10s %9s %10s\n", escape(clip(t.StatsAssetColumn, 10)), "1h", "24h")
		lower := false
		for _, a := range top {
			// Each column is marked on its own: an hour of complete
			// venues is complete though a sampled one added to the day.
			hour, day := "", ""
			if a.Coverage1h.Coverage() == event.CoverageSampled {
				hour, lower = "≥", true
			}
			if a.LowerBound {
				day, lower = "≥", true
			}
			fmt.Fprintf(&sb, "%-10s %9s %10s\n", escape(clip(a.Name.String(), 10)), hour+usd(a.USD1h, ""), day+usd(a.USD1d, ""))
		}
		sb.WriteString("</pre>")
		if lower {
			sb.WriteString(escape(t.StatsLowerBound) + "\n")
		}
	}
	sb.WriteString("\n<b>" + escape(t.StatsLatency) + "</b> (" + escape(t.StatsColumns) + ")\n")
	sb.WriteString(escape(t.StatsExchBox) + ": " + latencyLine(exch) + "\n")
	sb.WriteString(escape(t.StatsBoxTG) + ": " + latencyLine(b.lat.since(from.UnixNano())))
	return sb.String()
}

// venueCoverage is /stats' by-venue block: each venue's count and USD
// with whether its figures are complete or a lower bound (over the window:
// Gate changed on 2026-08-20), then whether the totals above, which sum
// the venues, are. It starts with the totals' line.
func venueCoverage(venues *[256]agg, from, to time.Time, t *texts) string {
	var sum event.CoverageSum
	var vs []event.Venue
	for v := range venues {
		if venues[v].n > 0 {
			vs = append(vs, event.Venue(v))
			sum.Add(event.Venue(v), event.Venue(v).CoverageOver(from, to).Coverage)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool { return venues[vs[i]].usd > venues[vs[j]].usd })
	var sb strings.Builder
	sb.WriteString("<i>" + escape(sum.Text(t.Code)) + "</i>\n<b>" + escape(t.StatsVenues) + "</b>")
	for _, v := range vs {
		fmt.Fprintf(&sb, "\n%s: %d · %s\n  %s", escape(v.String()), venues[v].n, usd(venues[v].usd, ""),
			escape(v.CoverageOver(from, to).Text(t.Code)))
	}
	return sb.String() + "\n"
}

func latencyLine(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	f := func(d time.Duration) string { return string(appendLatency(nil, d)) }
	return f(sum/time.Duration(len(ds))) + " / " + f(pct(ds, .5)) + " / " + f(pct(ds, .95)) + " / " + f(pct(ds, .99)) + " / " + f(ds[len(ds)-1])
}

func (b *Bot) topCmd(args []string, t *texts) string {
	win, ok := windowArg(args, time.Hour)
	if !ok {
		return escape(t.TopUsage)
	}
	if b.o.History == nil {
		return escape(t.NoHistory)
	}
	var d digest // its top-5 keeper is exactly what /top needs
	to := time.Now()
	err := b.o.History.Scan(to.Add(-win), to, func(ev *event.Event) error {
		d.fold(ev)
		return nil
	})
	if err != nil {
		b.log.Error("cannot scan the event log for /top", "err", err)
		return escape(t.NoHistory)
	}
	var sb strings.Builder
	sb.WriteString("<b>" + escape(fmt.Sprintf(t.TopTitle, windowName(win))) + "</b>")
	if d.ntop == 0 {
		return sb.String() + "\n" + escape(t.StatsNone)
	}
	for i := 0; i < d.ntop; i++ {
		ev := &d.top[i]
		line := money.AppendUSD(nil, ev.Notional, t.UnknownUSD)
		fmt.Fprintf(&sb, "\n%d. %s <b>%s</b> %s @ %s · %s · %s", i+1, t.side(ev.Side), string(appendSymbol(nil, &ev.Symbol)), line,
			money.AppendPrice(nil, ev.Price), ev.Venue.String(), time.UnixMilli(ev.TimeMs).UTC().Format("01-02 15:04:05 UTC"))
	}
	return sb.String()
}

func (b *Bot) statusCmd(t *texts) string {
	if b.o.Status == nil {
		return escape(t.NoStatus)
	}
	st := b.o.Status.Status()
	var sb strings.Builder
	sb.WriteString("<b>" + escape(t.StatusTitle) + "</b>")
	for _, v := range st.Venues {
		if v.LastFrame < 0 {
			sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusNoFrame, v.Venue, v.Connections, v.Configured, v.Gaps24h)))
		} else {
			sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusVenue, v.Venue, v.Connections, v.Configured, v.LastFrame.Round(time.Millisecond), v.Gaps24h)))
		}
		if v.Coverage != nil {
			sb.WriteString("\n  " + escape(v.Coverage.Text(t.Code)))
		}
	}
	for _, g := range st.Blind {
		sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusBlind, g.Venue, g.Stream,
			g.Start.UTC().Format("2006-01-02 15:04:05"), g.For.Round(time.Second), g.Cause)))
	}
	for _, d := range st.Decode {
		sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusDecode, d.Venue, d.Stream, d.Errors, d.Frames, 100*d.Ratio)))
	}
	for _, r := range st.Sources {
		sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusSource, r.Venue, r.DirectFirst, leadName(r.DirectLeadP50), leadName(r.DirectLeadP99),
			r.RelayFirst, leadName(r.RelayLeadP50), leadName(r.RelayLeadP99), r.Side, r.USD, r.Price)))
	}
	sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusRing, st.RingDepth, st.RingCap, st.RingDrops)))
	limit := "–"
	if st.DiskLimit > 0 {
		limit = bytesName(st.DiskLimit)
	}
	sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusDisk, bytesName(st.DiskBytes), limit)))
	if st.Enrich != nil {
		sb.WriteString("\n" + escape(st.Enrich.Text(t.Code)))
	} else if st.Enrichment != "" {
		sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusEnrich, st.Enrichment)))
	}
	if st.Bus != nil {
		sb.WriteString("\n" + escape(st.Bus.Text(t.Code)))
	}
	if st.ClockKnown {
		f := t.StatusClock
		if st.ClockWarn {
			f = t.StatusClockBad
		}
		sb.WriteString("\n" + escape(fmt.Sprintf(f, st.ClockOffset.Round(time.Microsecond), st.ClockBound)))
	}
	sb.WriteString("\n" + escape(fmt.Sprintf(t.StatusVersion, st.Version, st.Uptime.Round(time.Second))))
	return sb.String()
}

// leadName prints a lead to the millisecond below a second; "–" when
// unknown (negative).
func leadName(d time.Duration) string {
	switch {
	case d < 0:
		return "–"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func bytesName(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
