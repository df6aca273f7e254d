package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/service"
)

func cmdBench(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var o loadtest.Options
	fs.IntVar(&o.Rate, "rate", 0, "frames per second: the steady and mix `RATE`, the rate before a burst, the sparse and cascade patterns' background (default 2000, sparse and cascade 500)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "`DURATION` of the steady, mix or sparse run")
	fs.StringVar(&o.Pattern, "pattern", "steady", "`PATTERN`: steady | burst (2 s at --rate, then --burst-rate for --burst-for, then quiet) | mix (steady over all twelve venues in the demo's shares, 30% Binance USD-M) | sparse (background below every threshold, one --large-usd liquidation every 1-3 s, enrichment on: frame → alert at the Bot API) | cascade (--bursts cascades crossing a rule amid --rate background: frame → cascade alert at the Bot API)")
	fs.IntVar(&o.BurstRate, "burst-rate", 50000, "`RATE` in frames per second during the burst")
	fs.DurationVar(&o.BurstFor, "burst-for", 10*time.Second, "`DURATION` of the burst")
	fs.DurationVar(&o.Soak, "soak", 0, "soak for this `DURATION` at --rate with enrichment against a loopback LLM, sampling memory")
	fs.DurationVar(&o.SampleEvery, "sample-every", 10*time.Second, "soak sampling `PERIOD`")
	fs.IntVar(&o.Conns, "conns", 2, "`N` redundant connections to the loopback exchange (every frame arrives that many times; in the mix, Binance USD-M's, the other venues keep one)")
	tgMin := fs.String("tg-min-usd", "100k", "the chat's alert threshold (and enrichment's) in `USD`")
	large := fs.String("large-usd", "600k", "the sparse pattern's large liquidation in `USD`")
	fs.DurationVar(&o.LLMDelay, "llm-delay", enrichtest.DefaultDelay, "how long the loopback LLM takes to answer (sparse and soak), a `DURATION`")
	fs.StringVar(&o.Dir, "dir", "", "`DIR` for the log (default: a temporary one, deleted after)")
	cpuprof := fs.String("cpuprofile", "", "write a CPU profile of the run to this `FILE`")
	bursts := fs.Int("bursts", 40, "cascade pattern: `N` cascades to cross, one asset and rule each")
	every := fs.Duration("every", 1500*time.Millisecond, "cascade pattern: `TIME` between two bursts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Pattern == "cascade" {
		rate := o.Rate
		if rate == 0 {
			rate = 500
		}
		r, err := loadtest.RunCascade(ctx, loadtest.CascadeOptions{Rate: rate, Bursts: *bursts, Every: *every, Conns: o.Conns, Dir: o.Dir}, a.stderr)
		if err != nil {
			return err
		}
		return report(a, r)
	}
	var err error
	if o.TGMinUSD, err = service.USDSetting(*tgMin); err != nil {
		return fmt.Errorf("%w: --tg-min-usd: %v", errUsage, err)
	}
	if o.LargeUSD, err = service.USDSetting(*large); err != nil {
		return fmt.Errorf("%w: --large-usd: %v", errUsage, err)
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if o.LargeUSD, err = service.USDSetting(*large); err != nil {
		return fmt.Errorf("%w: --large-usd: %v", errUsage, err)
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			return fmt.Errorf("cannot create the CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cannot start the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	r, err := loadtest.Run(ctx, o, a.stderr)
	if err != nil {
		return err
	}
	return report(a, r)
}

// report prints a bench's result; a missed target is the command's error.
func report(a *app, r interface {
	Print(io.Writer)
	Failed() bool
}) error {
	r.Print(a.stdout)
	if r.Failed() {
		return fmt.Errorf("bench: a target was missed")
	}
	return nil
}
