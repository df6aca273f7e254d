package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
)

// cmdCost prints the LLM spend recorded in the log: today, this month, the
// projected month at the current rate, and what the same tokens would have
// cost on every other model in the price table. The same report as /cost.
func cmdCost(_ context.Context, a *app, args []string) error {
	fs := a.flags()
	db := fs.String("db", "", "log `FILE` (default: store.path from the config)")
	cfgPath := fs.String("config", "", "config `FILE`, for the model, prices, caps and the default log path")
	lang := fs.String("lang", "", "report `LANG`, en or vi (default: enrich.lang)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := service.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *lang == "" {
		*lang = cfg.Enrich.Lang
	} else if *lang != "en" && *lang != "vi" {
		return fmt.Errorf("%w: --lang %q: use en or vi", errUsage, *lang)
	}
	path := *db
	if path == "" {
		path = cfg.StorePath()
	}
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := enrich.New(enrich.Options{
		Model:         cfg.Enrich.Model,
		Prices:        cfg.Enrich.Prices,
		DailyTokenCap: cfg.Enrich.DailyTokenCap,
		MonthlyUSDCap: cfg.Enrich.MonthlyUSDCap,
		Lang:          *lang,
		Sink:          discardAnalyses{},
		KV:            st,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, e.Cost(time.Now()).Text(*lang))
	return err
}

type discardAnalyses struct{}

func (discardAnalyses) Annotate(event.Analysis) {}
