package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/liqbox/liqbox/history"
	"github.com/liqbox/liqbox/money"
)

// cmdBacktest answers "which threshold should my chat use?" from the
// box's own history.
func cmdBacktest(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	var q history.Query
	q.Register(fs, "-7d")
	thS := fs.String("threshold", "100k,250k,1m", "comma-separated alert `THRESHOLDS` in USD (100k,250k,1m)")
	window := fs.Duration("window", time.Minute, "cascade `WINDOW`: the most alerts within this long (1m)")
	var rules history.CascadeRules
	fs.Var(&rules, "cascade", "a cascade `RULE`, ASSET:USD:WINDOW[:SIDE] (BTC:10M:5m, all:50M:15m:long): when and how often it would have fired; repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	thresholdsToo := len(rules) == 0
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "threshold" {
			thresholdsToo = true
		}
	})
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
	if q.MinUSD != "" {
		return fmt.Errorf("%w: backtest takes --threshold, not --min-usd", errUsage)
	}
	st, err := openQuery(&q)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(rules) > 0 {
		if err := history.WriteCascadeBacktest(a.stdout, st, &q, rules); err != nil {
			return err
		}
		if !thresholdsToo {
			return nil
		}
		fmt.Fprintln(a.stdout)
	}
	return history.WriteBacktest(a.stdout, st, &q, thresholds, *window)
}
