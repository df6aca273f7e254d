package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/liqbox/liqbox/demo"
	"github.com/liqbox/liqbox/service"
)

func cmdDemo(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	speed := fs.Float64("speed", 10, "replay `SPEED`: 1 is the recorded pace, 10 is ten times faster")
	duration := fs.Duration("duration", 0, "stop after this `DURATION` (0: run until Ctrl-C)")
	listen := fs.String("listen", "", "`ADDR` for /metrics and the status page (default 127.0.0.1:9464, or a free port when that one is taken; an ADDR given here that is taken is an error; port 0 picks a free one)")
	// The recordings are mostly small liquidations (the first one has its
	// first $10K event 20 minutes in): $1K shows the pipeline at work at once.
	minUSD := fs.String("min-usd", "1k", "print alerts at or above this notional in `USD`")
	conns := fs.Int("conns", 2, "`N` redundant connections to Binance USD-M's loopback exchange (duplicates are dropped; every other venue gets one); 0 with --relay: Binance USD-M through the relay alone")
	loop := fs.Bool("loop", true, "start the sample over when it ends")
	dataDir := fs.String("data-dir", "", "keep the log in this `DIR` (DIR/demo.db) for the log tools and liqbox compare (default: a temporary one, deleted)")
	relay := fs.Bool("relay", false, "also play the sample through a loopback HolySheep relay, read as [relay.holysheep]")
	relayLag := fs.Duration("relay-lag", 40*time.Millisecond, "`TIME` the loopback relay runs behind the exchange")
	relayDrop := fs.String("relay-drop", "0", "`SHARE` of liquidations the loopback relay leaves out (a degraded relay), e.g. 2%")
	relayFlip := fs.String("relay-flip", "0", "`SHARE` the loopback relay sends with the other side, e.g. 1%")
	align := fs.Duration("align", 0, "start playing at the next multiple of this `PERIOD` on the wall clock, so demos started together replay the same liquidations at the same moments (0: at once)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *conns < 0 || *conns > 8 || (*conns == 0 && !*relay) {
		return fmt.Errorf("%w: -conns must be 1 to 8, or 0 with --relay", errUsage)
	}
	if *relayLag < 0 || *align < 0 {
		return fmt.Errorf("%w: -relay-lag and -align must not be negative", errUsage)
	}
	var drop, flip float64
	for _, f := range []struct {
		name, v string
		dst     *float64
	}{{"relay-drop", *relayDrop, &drop}, {"relay-flip", *relayFlip, &flip}} {
		r, err := service.RatioSetting(f.v)
		if err != nil || r > 1 {
			return fmt.Errorf("%w: -%s %q: want a share such as 2%% or 0.02", errUsage, f.name, f.v)
		}
		*f.dst = r
	}
	if *dataDir != "" {
		if err := os.MkdirAll(*dataDir, 0o750); err != nil {
			return fmt.Errorf("cannot create the demo's data directory: %w", err)
		}
	}
	if *speed <= 0 || *speed > 100000 {
		return fmt.Errorf("%w: -speed must be between 0 and 100000", errUsage)
	}
	min, err := service.USDSetting(*minUSD)
	if err != nil {
		return fmt.Errorf("%w: -min-usd: %v", errUsage, err)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	return demo.Run(ctx, demo.Options{Speed: *speed, Listen: *listen, MinUSD: min, Conns: *conns, Loop: *loop,
		DataDir: *dataDir, Relay: *relay, RelayLag: *relayLag, RelayDrop: drop, RelayFlip: flip, Align: *align,
		Stdout: a.stdout, Stderr: a.stderr, Color: isTerminal(a.stdout)})
}
