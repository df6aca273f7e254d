package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/liqbox/liqbox/service"
)

const configUsage = `usage: liqbox config init          print the commented default configuration
       liqbox config check FILE    validate FILE (and the secrets, as run reads them) and exit
`

func cmdConfig(_ context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: liqbox config init | liqbox config check FILE", errUsage)
	}
	for _, arg := range args {
		if arg == "-h" || arg == "-help" || arg == "--help" {
			_, err := io.WriteString(a.stdout, configUsage)
			return err
		}
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
		// The secrets as run reads them (environment or 0600 file, the
		// token's form), so that a check that passes means run starts.
		token, key, err := service.ReadSecrets(cfg)
		if err != nil {
			return err
		}
		var venues []string
		for _, v := range cfg.EnabledVenues() {
			venues = append(venues, v.String())
		}
		// build/install.sh reads the address from the "  http: " line.
		fmt.Fprintf(a.stdout, "%s: ok\n  venues: %s\n  log: %s\n  http: %s\n  telegram: %s\n  enrichment: %s (%s)\n  bus: %s\n",
			args[1], strings.Join(venues, ", "), cfg.StorePath(), cfg.HTTP.Listen,
			secretState(cfg.Telegram.Enabled, token, "token", service.BotTokenEnv, "telegram.token_file", "alerts go to the terminal and the log only"),
			secretState(cfg.Enrich.Enabled, key, "key", service.LLMKeyEnv, "enrich.api_key_file", "every alert gets the rule-based read"),
			cfg.Enrich.Model, cfg.BusSummary())
		return nil
	}
	return fmt.Errorf("%w: unknown config subcommand %q (init, check)", errUsage, args[0])
}

// secretState says whether a part that needs a secret will run, without
// the secret.
func secretState(on bool, secret, what, env, fileKey, without string) string {
	switch {
	case !on:
		return "off"
	case secret == "":
		return "on, but no " + env + " nor " + fileKey + ": " + without
	}
	return "on, " + what + " read"
}
