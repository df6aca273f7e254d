package main

import (
	"context"
	"fmt"

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
	conns := fs.Int("conns", 2, "`N` redundant connections to the loopback exchange (duplicates are dropped)")
	loop := fs.Bool("loop", true, "start the sample over when it ends")
	if err := fs.Parse(args); err != nil {
		return err
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
		Stdout: a.stdout, Stderr: a.stderr, Color: isTerminal(a.stdout)})
}
