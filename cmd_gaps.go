package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/liqbox/liqbox/history"
	"github.com/liqbox/liqbox/service"
)

// cmdGaps lists the intervals in which a stream had no live connection:
// the stretches of time the log cannot speak for.
func cmdGaps(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	var q history.Query
	fs.StringVar(&q.DB, "db", "", "log `FILE` (default: store.path from the config)")
	fs.StringVar(&q.Config, "config", "", "config `FILE`, for the default log path")
	since := fs.String("since", "-24h", "list gaps that ended after this `TIME`: RFC 3339, a date, or relative (-7d)")
	asJSON := fs.Bool("json", false, "one JSON object per gap instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	from, err := history.ParseWhen(*since, time.Now())
	if err != nil {
		return fmt.Errorf("%w: --since: %v", errUsage, err)
	}
	st, err := q.Open()
	if err != nil {
		return err
	}
	defer st.Close()
	gaps, err := st.Gaps(from)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(a.stdout)
		for _, g := range gaps {
			if err := enc.Encode(map[string]any{
				"venue": g.Venue, "stream": g.Stream, "cause": g.Cause,
				"start": g.Start.UTC().Format(time.RFC3339Nano), "end": g.End.UTC().Format(time.RFC3339Nano),
				"seconds": g.End.Sub(g.Start).Seconds(),
			}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(gaps) == 0 {
		fmt.Fprintf(a.stdout, "no gaps since %s: every stream had a live connection\n", from.UTC().Format(time.RFC3339))
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "START (UTC)\tEND (UTC)\tBLIND FOR\tVENUE\tSTREAM\tCAUSE")
	var total time.Duration
	for _, g := range gaps {
		d := g.End.Sub(g.Start)
		total += d
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Start.UTC().Format("2006-01-02 15:04:05"),
			g.End.UTC().Format("2006-01-02 15:04:05"), d.Round(time.Millisecond),
			service.TerminalText(g.Venue), service.TerminalText(g.Stream), service.TerminalText(g.Cause))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%d gaps, %s blind in total\n", len(gaps), total.Round(time.Millisecond))
	return nil
}
