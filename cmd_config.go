package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/liqbox/liqbox/service"
)

func cmdConfig(_ context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: liqbox config init | liqbox config check FILE", errUsage)
	}
	switch args[0] {
	case "init":
		_, err := a.stdout.Write(service.DefaultConfigFile())
		return err
	case "check":
		if len(args) != 2 {
			return fmt.Errorf("%w: liqbox config check FILE", errUsage)
		}
		cfg, err := service.LoadConfig(args[1])
		if err != nil {
			return err
		}
		var venues []string
		for _, v := range cfg.EnabledVenues() {
			venues = append(venues, v.String())
		}
		fmt.Fprintf(a.stdout, "%s: ok\n  venues: %s\n  log: %s\n  http: %s\n  telegram: %s\n  enrichment: %s (%s)\n  bus: %s\n",
			args[1], strings.Join(venues, ", "), cfg.StorePath(), cfg.HTTP.Listen,
			onOff(cfg.Telegram.Enabled, "needs TELEGRAM_BOT_TOKEN"), onOff(cfg.Enrich.Enabled, "needs HOLYSHEEP_API_KEY"), cfg.Enrich.Model,
			cfg.BusSummary())
		return nil
	}
	return fmt.Errorf("%w: unknown config subcommand %q (init, check)", errUsage, args[0])
}

func onOff(on bool, note string) string {
	if on {
		return "on, " + note
	}
	return "off"
}
