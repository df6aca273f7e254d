package main

import (
	"context"
	"fmt"

	"github.com/liqbox/liqbox/service"
)

func cmdRun(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	cfgPath := fs.String("config", "", "config `FILE` (default: the embedded defaults; see liqbox config init)")
	dataDir := fs.String("data-dir", "", "`DIR` of the log, overriding general.data_dir")
	listen := fs.String("listen", "", "`ADDR` (host:port) of the HTTP window, overriding http.listen; the same rules apply")
	shadow := fs.Bool("shadow", false, "shadow mode: Telegram only to telegram.shadow_chat, or nowhere")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := service.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	// Flags are the last layer, through the same setters as the file.
	for _, f := range []struct{ key, flag, v string }{{"general.data_dir", "--data-dir", *dataDir}, {"http.listen", "--listen", *listen}} {
		if f.v == "" {
			continue
		}
		if err := cfg.SetFrom(f.flag, f.key, f.v); err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, f.flag, err)
		}
	}
	// The rules across keys again, flags included (--listen 0.0.0.0:9464
	// needs http.allow_remote as the file's listen does).
	if err := cfg.Validate(); err != nil {
		return err
	}
	tgToken, llmKey, err := service.ReadSecrets(cfg)
	if err != nil {
		return err
	}
	svc, err := service.New(service.Options{
		Config: cfg, Logger: service.NewLogger(a.stderr, cfg), Stdout: a.stdout, Color: isTerminal(a.stdout),
		Shadow: *shadow, TGToken: tgToken, LLMKey: llmKey,
	})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
