package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/history"
)

// cmdStats prints totals by venue, side and symbol, the largest
// liquidations and the busiest minutes of a window of the log.
func cmdStats(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	var q history.Query
	q.Register(fs, "-24h")
	top := fs.Int("top", 10, "`N` rows in each ranking")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *top < 1 {
		return fmt.Errorf("%w: --top %s: want at least 1", errUsage, strconv.Itoa(*top))
	}
	st, err := openQuery(&q)
	if err != nil {
		return err
	}
	defer st.Close()
	s := history.NewStats(*top)
	if err := q.Scan(st, func(ev *event.Event) error { s.Add(ev); return nil }); err != nil {
		return fmt.Errorf("cannot compute stats: %w", err)
	}
	return s.Write(a.stdout, &q)
}
