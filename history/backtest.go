package history

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// Alert is one event a chat at some threshold would have been sent.
type Alert struct {
	Ns  int64   // receive time
	USD float64 // 0 when the size is unknown
}

// Result is what one threshold would have meant.
type Result struct {
	Threshold    float64
	Alerts       int
	UnknownSize  int
	WorstHour    time.Time
	WorstHourN   int
	CascadeN     int
	CascadeUSD   float64
	CascadeStart time.Time
}

// Backtest replays the alert rule for each threshold. It follows the live
// bot: an event at or above the threshold alerts, and so does one whose
// size is unknown (the bot says so rather than stay silent). A cascade is
// the most alerts within any sliding window of the given length.
func Backtest(alerts []Alert, thresholds []float64, window time.Duration) []Result {
	out := make([]Result, 0, len(thresholds))
	for _, th := range thresholds {
		r := Result{Threshold: th}
		var sel []Alert
		hours := map[int64]int{}
		for _, a := range alerts {
			if a.USD != 0 && a.USD < th {
				continue
			}
			sel = append(sel, a)
			r.Alerts++
			if a.USD == 0 {
				r.UnknownSize++
			}
			h := a.Ns / int64(time.Hour)
			hours[h]++
			if n := hours[h]; n > r.WorstHourN || (n == r.WorstHourN && h < r.WorstHour.Unix()/3600) {
				r.WorstHourN, r.WorstHour = n, time.Unix(h*3600, 0)
			}
		}
		// The log is in receive order, but a clock step could break that.
		sort.Slice(sel, func(i, j int) bool { return sel[i].Ns < sel[j].Ns })
		lo := 0
		var sum float64
		for hi := range sel {
			sum += sel[hi].USD
			for sel[hi].Ns-sel[lo].Ns >= int64(window) {
				sum -= sel[lo].USD
				lo++
			}
			if n := hi - lo + 1; n > r.CascadeN || (n == r.CascadeN && sum > r.CascadeUSD) {
				r.CascadeN, r.CascadeUSD, r.CascadeStart = n, sum, time.Unix(0, sel[lo].Ns)
			}
		}
		out = append(out, r)
	}
	return out
}

// WriteBacktest answers "which threshold should my chat use?" for the
// events q selects in st: for each threshold, the alerts, their rate, the
// worst hour and the largest cascade within window.
func WriteBacktest(out io.Writer, st *store.Store, q *Query, thresholds []float64, window time.Duration) error {
	var alerts []Alert
	var first, last int64
	err := q.Scan(st, func(ev *event.Event) error {
		if ev.Flags&event.FlagBacklog != 0 {
			return nil // never alerted live
		}
		if first == 0 {
			first = ev.RecvNs
		}
		last = ev.RecvNs
		a := Alert{Ns: ev.RecvNs}
		if ev.NotionalKnown() {
			a.USD = ev.Notional
			if a.USD == 0 {
				return nil // a zero-size print never crosses a threshold
			}
		}
		alerts = append(alerts, a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot backtest: %w", err)
	}
	span := q.ToT.Sub(q.FromT)
	if q.FromT.IsZero() && first != 0 {
		span = time.Duration(last - first)
	}
	days := span.Hours() / 24
	fmt.Fprintf(out, "window %s → %s, %d liquidations, cascade window %s\n\n",
		FmtWhen(q.FromT), FmtWhen(q.ToT), len(alerts), window)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "threshold\talerts\tper day\tworst hour\tat (UTC)\tlargest cascade\tcascade USD\tstarting (UTC)\t\n")
	for _, r := range Backtest(alerts, thresholds, window) {
		perDay := "-"
		if days > 0 {
			perDay = fmt.Sprintf("%.1f", float64(r.Alerts)/days)
		}
		worst, cascadeAt := "-", "-"
		if r.WorstHourN > 0 {
			worst = r.WorstHour.UTC().Format("2006-01-02 15:00")
			cascadeAt = r.CascadeStart.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t\n", usd(r.Threshold), r.Alerts, perDay,
			r.WorstHourN, worst, r.CascadeN, usd(r.CascadeUSD), cascadeAt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nalerts include liquidations of unknown size, as the live bot sends them;")
	fmt.Fprintln(out, "Telegram allows about 20 messages a minute to a group: above that, the bot folds alerts into digests.")
	return nil
}
