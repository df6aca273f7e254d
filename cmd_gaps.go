package main

import (
	"context"
	"fmt"
	"time"

	"github.com/liqbox/liqbox/history"
)

// cmdGaps lists the intervals in which a stream had no live connection:
// the stretches of time the log cannot speak for, those going on now
// included, and the box's own downtime when liqbox is not running.
func cmdGaps(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	var q history.Query
	fs.StringVar(&q.DB, "db", "", "log `FILE` (default: store.path from the config)")
	fs.StringVar(&q.Config, "config", "", "config `FILE`, for the default log path")
	since := fs.String("since", "-24h", "list gaps that ended after this `TIME` (and every ongoing one): RFC 3339, a date, or relative (-7d)")
	asJSON := fs.Bool("json", false, "one JSON object per gap instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	now := time.Now()
	from, err := history.ParseWhen(*since, now)
	if err != nil {
		return fmt.Errorf("%w: --since: %v", errUsage, err)
	}
	st, err := q.Open()
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := history.LoadGaps(st, from, now)
	if err != nil {
		return err
	}
	if *asJSON {
		return r.WriteJSON(a.stdout)
	}
	return r.WriteTable(a.stdout)
}
