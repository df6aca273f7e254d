package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/liqbox/liqbox/compare"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/history"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
)

// errRollback is compare's verdict when a rollback trigger fired: main
// exits 3 with it, so a promotion script tells it from a failure (1) and
// from a usage error (2).
var errRollback = errors.New("rollback triggers fired")

// cmdCompare sets two logs of one period side by side (compare.Run) and
// exits 3 when a rollback trigger fires.
func cmdCompare(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	// The help names the two logs; asked for, it goes to stdout, after a
	// mistake to stderr, as every command's does (app.flags).
	usageTo := func(w io.Writer) {
		fmt.Fprintln(w, "usage: liqbox compare [flags] A B\n\nA is the reference log (the live box), B the candidate's; either a file, also one a running liqbox writes.")
		a.printFlags(w, fs)
	}
	fs.Usage = func() {
		if a.flagOut.wrote {
			usageTo(a.stderr)
		} else {
			usageTo(a.stdout)
		}
	}
	cfgPath := fs.String("config", "", "config `FILE`: chats' default threshold (telegram.min_usd), the model and prices for the spend, the match rule (relay.holysheep)")
	from := fs.String("from", "", "`TIME` to start: RFC 3339, a date, or relative (-2h); default the later of the two logs' first liquidations (less the match window)")
	to := fs.String("to", "", "`TIME` to end (exclusive), same forms; default now, or when neither log is being written, the later of their last moments")
	venue := fs.String("venue", "", "only this `VENUE` ("+strings.Join(event.VenueNames(), ", ")+")")
	var syms history.SymbolList
	fs.Var(&syms, "symbol", "only these `SYMBOLS` (repeat or comma-separate)")
	minUSD := fs.String("min-usd", "0", "only liquidations of at least this `USD` in both logs, e.g. the relay's threshold_usd (100k)")
	window := fs.Duration("match-window", 0, "copies are one liquidation within this `TIME` of each other (default relay.holysheep.match_window, 500ms)")
	size := fs.String("match-size", "", "and within this `SHARE` in USD, same side (default relay.holysheep.match_size, 10%)")
	agree := fs.String("match-agree", "", "copies differing by more (a `SHARE`) in USD or price disagree (default relay.holysheep.match_agree, 1%)")
	d := compare.DefaultTriggers()
	maxMissing := fs.String("max-missing", pct(d.MaxMissing), "rollback when B lacks more than this `SHARE` of A's liquidations (off: no limit)")
	maxExtra := fs.String("max-extra", pct(d.MaxExtra), "rollback when more than this `SHARE` of B's liquidations are not in A")
	maxDisagree := fs.String("max-disagree", pct(d.MaxDisagree), "rollback when more than this `SHARE` of the matched liquidations differ in side, USD or price")
	maxAlert := fs.String("max-alert-diff", pct(d.MaxAlertDiff), "rollback when a chat would have had more than this `SHARE` of its alerts differently")
	maxLead := fs.Duration("max-lead-p99", 0, "rollback when B delivers later than A by more than this `TIME` at p99 (0: no limit)")
	maxBlind := fs.Duration("max-blind", 0, "rollback when B was blind (gaps, downtime) for longer than this `TIME` in the period (0: no limit)")
	minEvents := fs.Int("min-events", d.MinEvents, "rollback when A logged fewer liquidations than `N`: no evidence is no pass")
	asJSON := fs.Bool("json", false, "the report as one JSON object")
	var paths []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		paths, rest = append(paths, fs.Arg(0)), fs.Args()[1:]
	}
	if len(paths) != 2 {
		usageTo(a.stderr)
		return fmt.Errorf("%w: compare takes two logs, A and B (got %d)", errUsage, len(paths))
	}
	cfg, err := service.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	now := time.Now()
	o := compare.Options{Now: now, ChatMinUSD: cfg.Telegram.MinUSD, Model: cfg.Enrich.Model, Prices: cfg.Enrich.Prices,
		Rule: event.MatchRule{Window: cfg.Relay.MatchWindow, SizeTol: cfg.Relay.MatchSize, Agree: cfg.Relay.MatchAgree}}
	usage := func(flagName string, err error) error { return fmt.Errorf("%w: --%s: %v", errUsage, flagName, err) }
	if *from != "" {
		if o.From, err = history.ParseWhen(*from, now); err != nil {
			return usage("from", err)
		}
	}
	if *to != "" {
		if o.To, err = history.ParseWhen(*to, now); err != nil {
			return usage("to", err)
		}
	}
	if *venue != "" {
		v, ok := event.ParseVenue(*venue)
		if !ok {
			return usage("venue", fmt.Errorf("unknown venue %q", *venue))
		}
		o.Venue = v
	}
	if len(syms) > 0 {
		o.Symbols = map[string]bool{}
		for _, s := range syms {
			o.Symbols[s] = true
		}
	}
	if o.MinUSD, err = service.USDSetting(*minUSD); err != nil {
		return usage("min-usd", err)
	}
	if *window < 0 {
		return usage("match-window", errors.New("must not be negative"))
	} else if *window > 0 {
		o.Rule.Window = *window
	}
	for _, f := range []struct {
		name, v string
		dst     *float64
	}{{"match-size", *size, &o.Rule.SizeTol}, {"match-agree", *agree, &o.Rule.Agree}} {
		if f.v != "" {
			if *f.dst, err = service.RatioSetting(f.v); err != nil {
				return usage(f.name, err)
			}
		}
	}
	o.Triggers = compare.Triggers{MaxLeadP99: *maxLead, MaxBlind: *maxBlind, MinEvents: *minEvents}
	for _, f := range []struct {
		name, v string
		dst     *float64
	}{{"max-missing", *maxMissing, &o.Triggers.MaxMissing}, {"max-extra", *maxExtra, &o.Triggers.MaxExtra},
		{"max-disagree", *maxDisagree, &o.Triggers.MaxDisagree}, {"max-alert-diff", *maxAlert, &o.Triggers.MaxAlertDiff}} {
		if *f.dst, err = triggerShare(f.v); err != nil {
			return usage(f.name, err)
		}
	}
	if *maxLead < 0 || *maxBlind < 0 {
		return fmt.Errorf("%w: --max-lead-p99 and --max-blind must not be negative", errUsage)
	}

	var logs [2]compare.Log
	for i, p := range paths {
		st, err := store.Open(p, store.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		logs[i] = compare.Log{Name: p, Store: st}
	}
	r, err := compare.Run(logs[0], logs[1], o)
	if err != nil {
		return err
	}
	if *asJSON {
		err = r.WriteJSON(a.stdout)
	} else {
		err = r.WriteTable(a.stdout)
	}
	if err != nil {
		return err
	}
	if f := r.Fired(); len(f) > 0 {
		names := make([]string, len(f))
		for i, x := range f {
			names[i] = "--" + x.Name
		}
		return fmt.Errorf("%w: %s", errRollback, strings.Join(names, ", "))
	}
	return nil
}

// triggerShare reads a trigger's share: 1%, 0.01, or off (no limit).
func triggerShare(v string) (float64, error) {
	if strings.EqualFold(strings.TrimSpace(v), "off") {
		return -1, nil
	}
	return service.RatioSetting(v)
}

func pct(f float64) string { return fmt.Sprintf("%g%%", 100*f) }
