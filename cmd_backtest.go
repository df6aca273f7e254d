package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
)

// btAlert is one event a chat at some threshold would have been sent.
type btAlert struct {
	ns  int64
	usd float64 // 0 when the size is unknown
}

// btResult is what one threshold would have meant.
type btResult struct {
	threshold    float64
	alerts       int
	unknownSize  int
	worstHour    time.Time
	worstHourN   int
	cascadeN     int
	cascadeUSD   float64
	cascadeStart time.Time
}

// backtest replays the alert rule for each threshold. It follows the live
// bot: an event at or above the threshold alerts, and so does one whose
// size is unknown (the bot says so rather than stay silent). A cascade is
// the most alerts within any sliding window of the given length.
func backtest(alerts []btAlert, thresholds []float64, window time.Duration) []btResult {
	out := make([]btResult, 0, len(thresholds))
	for _, th := range thresholds {
		r := btResult{threshold: th}
		var sel []btAlert
		hours := map[int64]int{}
		for _, a := range alerts {
			if a.usd != 0 && a.usd < th {
				continue
			}
			sel = append(sel, a)
			r.alerts++
			if a.usd == 0 {
				r.unknownSize++
			}
			h := a.ns / int64(time.Hour)
			hours[h]++
			if n := hours[h]; n > r.worstHourN || (n == r.worstHourN && h < r.worstHour.Unix()/3600) {
				r.worstHourN, r.worstHour = n, time.Unix(h*3600, 0)
			}
		}
		// The log is in receive order, but a clock step could break that.
		sort.Slice(sel, func(i, j int) bool { return sel[i].ns < sel[j].ns })
		lo := 0
		var sum float64
		for hi := range sel {
			sum += sel[hi].usd
			for sel[hi].ns-sel[lo].ns >= int64(window) {
				sum -= sel[lo].usd
				lo++
			}
			if n := hi - lo + 1; n > r.cascadeN || (n == r.cascadeN && sum > r.cascadeUSD) {
				r.cascadeN, r.cascadeUSD, r.cascadeStart = n, sum, time.Unix(0, sel[lo].ns)
			}
		}
		out = append(out, r)
	}
	return out
}

// cmdBacktest answers "which threshold should my chat use?" from the
// box's own history.
func cmdBacktest(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	var q logQuery
	q.register(fs, "-7d")
	thS := fs.String("threshold", "100k,250k,1m", "comma-separated alert thresholds in USD")
	window := fs.Duration("window", time.Minute, "cascade window: the most alerts within this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	var thresholds []float64
	for _, s := range strings.Split(*thS, ",") {
		v, ok := money.ParseUSD(s)
		if !ok {
			return fmt.Errorf("%w: --threshold %q is not an amount (100k, 1.5m)", errUsage, s)
		}
		thresholds = append(thresholds, v)
	}
	if *window <= 0 {
		return fmt.Errorf("%w: --window must be positive", errUsage)
	}
	if q.minUSD != "" {
		return fmt.Errorf("%w: backtest takes --threshold, not --min-usd", errUsage)
	}
	st, err := q.parseAndOpen(time.Now())
	if err != nil {
		return err
	}
	defer st.Close()
	var alerts []btAlert
	var first, last int64
	err = q.scan(st, func(ev *event.Event) error {
		if ev.Flags&event.FlagBacklog != 0 {
			return nil // never alerted live
		}
		if first == 0 {
			first = ev.RecvNs
		}
		last = ev.RecvNs
		a := btAlert{ns: ev.RecvNs}
		if ev.NotionalKnown() {
			a.usd = ev.Notional
			if a.usd == 0 {
				return nil // a zero-size print never crosses a threshold
			}
		}
		alerts = append(alerts, a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot backtest: %w", err)
	}
	span := q.toT.Sub(q.fromT)
	if q.fromT.IsZero() && first != 0 {
		span = time.Duration(last - first)
	}
	days := span.Hours() / 24
	fmt.Fprintf(a.stdout, "window %s → %s, %d liquidations, cascade window %s\n\n",
		fmtWhen(q.fromT), fmtWhen(q.toT), len(alerts), *window)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "threshold\talerts\tper day\tworst hour\tat (UTC)\tlargest cascade\tcascade USD\tstarting (UTC)\t\n")
	for _, r := range backtest(alerts, thresholds, *window) {
		perDay := "-"
		if days > 0 {
			perDay = fmt.Sprintf("%.1f", float64(r.alerts)/days)
		}
		worst, cascadeAt := "-", "-"
		if r.worstHourN > 0 {
			worst = r.worstHour.UTC().Format("2006-01-02 15:00")
			cascadeAt = r.cascadeStart.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t\n", usd(r.threshold), r.alerts, perDay,
			r.worstHourN, worst, r.cascadeN, usd(r.cascadeUSD), cascadeAt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "\nalerts include liquidations of unknown size, as the live bot sends them;")
	fmt.Fprintln(a.stdout, "Telegram allows about 20 messages a minute to a group: above that, the bot folds alerts into digests.")
	return nil
}
