package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/telegram"
)

// sampleRow is one recorded liquidation: the fields of a forceOrder "o".
type sampleRow struct {
	Symbol, Side, Qty, Price, AvgPrice, LastQty, FilledQty string
	// Pair is COIN-M's "ps" (BTCUSD for BTCUSD_PERP); empty means the
	// symbol itself, as USD-M sends.
	Pair   string
	TimeMs int64
}

// sampleSession is one recording, in time order.
type sampleSession struct {
	Name string
	Rows []sampleRow
}

// loadSample reads the embedded recordings. The recorders stripped "USDT"
// from most symbols and wrote "None" for a missing average price
// (demo/SOURCES.md); frames are rebuilt as Binance would send them, with
// the symbol restored and "ap":"0" where the price was missing, which the
// decoder must answer by falling back to "p".
func loadSample() ([]sampleSession, error) {
	files, err := fs.Glob(embed.Demo, "demo/*.csv")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []sampleSession
	for _, f := range files {
		data, err := embed.Demo.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := csv.NewReader(bytes.NewReader(data))
		recs, err := r.ReadAll()
		if err != nil {
			return nil, fmt.Errorf("cannot read sample %s: %w", f, err)
		}
		s := sampleSession{Name: strings.TrimSuffix(path.Base(f), ".csv")}
		for i, rec := range recs {
			if i == 0 || len(rec) < 11 {
				continue // header
			}
			t, err := strconv.ParseInt(rec[10], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("sample %s row %d: bad time %q", f, i+1, rec[10])
			}
			sym := rec[0]
			if !strings.HasSuffix(sym, "USDT") && !strings.HasSuffix(sym, "USDC") {
				sym += "USDT"
			}
			ap := rec[6]
			if ap == "None" || ap == "" {
				ap = "0"
			}
			s.Rows = append(s.Rows, sampleRow{
				Symbol: sym, Side: rec[1], Qty: rec[4], Price: rec[5], AvgPrice: ap,
				LastQty: rec[8], FilledQty: rec[9], TimeMs: t,
			})
		}
		sort.SliceStable(s.Rows, func(i, j int) bool { return s.Rows[i].TimeMs < s.Rows[j].TimeMs })
		out = append(out, s)
	}
	return out, nil
}

// appendFrame builds the combined-stream forceOrder frame Binance sends
// (USD-M and COIN-M alike) for row,
// stamped with event time tMs (the demo replays at "now", not in 2024).
func appendFrame(dst []byte, row *sampleRow, tMs int64) []byte {
	dst = append(dst, `{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":`...)
	dst = strconv.AppendInt(dst, tMs+3, 10)
	dst = append(dst, `,"o":{"s":"`...)
	dst = append(dst, row.Symbol...)
	dst = append(dst, `","S":"`...)
	dst = append(dst, row.Side...)
	dst = append(dst, `","o":"LIMIT","f":"IOC","q":"`...)
	dst = append(dst, row.Qty...)
	dst = append(dst, `","p":"`...)
	dst = append(dst, row.Price...)
	dst = append(dst, `","ap":"`...)
	dst = append(dst, row.AvgPrice...)
	dst = append(dst, `","X":"FILLED","l":"`...)
	dst = append(dst, row.LastQty...)
	dst = append(dst, `","z":"`...)
	dst = append(dst, row.FilledQty...)
	dst = append(dst, `","T":`...)
	dst = strconv.AppendInt(dst, tMs, 10)
	dst = append(dst, `,"ps":"`...)
	if row.Pair != "" {
		dst = append(dst, row.Pair...)
	} else {
		dst = append(dst, row.Symbol...)
	}
	dst = append(dst, `","st":1}}}`...)
	return dst
}

// playSample broadcasts the sessions through ex at their recorded pace
// divided by speed, one session after another, looping until ctx ends.
// Pauses longer than maxPause (recorded time) are cut short so a quiet
// spell in a recording does not look like a dead demo.
func playSample(ctx context.Context, ex *ingesttest.Loopback, sessions []sampleSession, speed float64, loop bool) (int, error) {
	const maxPause = 20 * time.Second
	sent := 0
	for {
		for _, s := range sessions {
			var prev int64
			for i := range s.Rows {
				row := &s.Rows[i]
				if i > 0 {
					d := time.Duration(row.TimeMs-prev) * time.Millisecond
					if d > maxPause {
						d = maxPause
					}
					if d > 0 && !sleepCtx(ctx, time.Duration(float64(d)/speed)) {
						return sent, nil
					}
				}
				prev = row.TimeMs
				ex.Broadcast(appendFrame(nil, row, time.Now().UnixMilli()))
				sent++
			}
			if !sleepCtx(ctx, time.Duration(float64(2*time.Second)/speed)) {
				return sent, nil
			}
		}
		if !loop {
			return sent, nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func cmdDemo(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	speed := fs.Float64("speed", 10, "replay speed: 1 is the recorded pace, 10 is ten times faster")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	listen := fs.String("listen", "127.0.0.1:9464", "address for /metrics and the status page (port 0 picks a free one)")
	// The recordings are mostly small liquidations (the first one has its
	// first $10K event 20 minutes in): $1K shows the pipeline at work at once.
	minUSD := fs.String("min-usd", "1k", "print alerts at or above this USD notional")
	conns := fs.Int("conns", 2, "redundant connections to the loopback exchange (duplicates are dropped)")
	loop := fs.Bool("loop", true, "start the sample over when it ends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *speed <= 0 || *speed > 100000 {
		return fmt.Errorf("%w: -speed must be between 0 and 100000", errUsage)
	}
	cfg, err := LoadConfig("")
	if err != nil {
		return err
	}
	if err := setUSD(&cfg.Alerts.MinUSD, *minUSD); err != nil {
		return fmt.Errorf("%w: -min-usd: %v", errUsage, err)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	sessions, err := loadSample()
	if err != nil {
		return err
	}
	ex, err := ingesttest.NewLoopback(ingesttest.LoopbackOptions{Path: "/market/stream", PingEvery: 30 * time.Second})
	if err != nil {
		return fmt.Errorf("cannot start the loopback exchange: %w", err)
	}
	defer ex.Close()

	dir, err := os.MkdirTemp("", "liqbox-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	demoConfig(cfg, ex.URL("/market/stream?streams=!forceOrder@arr"), dir, *conns)

	logger := newLogger(a.stderr, cfg)
	opts := serviceOptions{Config: cfg, Logger: logger, Stdout: a.stdout, Color: isTerminal(a.stdout), Listener: *listen}
	svc, err := newService(opts)
	var opErr *net.OpError
	if err == nil {
		if lerr := svc.http.listen(); lerr != nil && errors.As(lerr, &opErr) && *listen != "" {
			// The default port is taken (another liqbox?): pick a free one
			// rather than fail a demo.
			svc.http.req = "127.0.0.1:0"
			if lerr = svc.http.listen(); lerr != nil {
				svc.store.Close()
				return lerr
			}
		} else if lerr != nil {
			svc.store.Close()
			return lerr
		}
	}
	if err != nil {
		return err
	}
	rows := 0
	for _, s := range sessions {
		rows += len(s.Rows)
	}
	fmt.Fprintf(a.stderr, `liqbox demo — recorded data, not live.
  replaying %d real Binance USD-M liquidations (4 recordings, 2024-08 to 2025-06) at %gx
  through a loopback exchange at %s (%d redundant connections)
  alerts at or above $%s below; /metrics at http://%s/metrics, status page at http://%s/
  log in %s (deleted on exit); Ctrl-C to stop

`, rows, *speed, ex.Addr(), *conns, strings.TrimPrefix(string(telegram.AppendUSD(nil, cfg.Alerts.MinUSD, "0")), "$"), svc.http.addr(), svc.http.addr(), dir)

	playCtx, stopPlay := context.WithCancel(ctx)
	played := make(chan int, 1)
	go func() {
		wctx, cancel := context.WithTimeout(playCtx, 10*time.Second)
		ex.WaitClients(wctx, 1)
		cancel()
		n, _ := playSample(playCtx, ex, sessions, *speed, *loop)
		played <- n
	}()
	err = svc.run(ctx)
	stopPlay()
	n := <-played
	fmt.Fprintf(a.stderr, "\ndemo: %d frames played to each of %d connections, %d distinct events logged\n", n, *conns, svc.pipe.LastSeq())
	return err
}

// demoConfig turns the default config into the demo's: only Binance USD-M,
// through the loopback exchange; no Telegram and no LLM (nothing leaves the
// box); alerts on the terminal; the log in dir.
func demoConfig(cfg *Config, url, dir string, conns int) {
	for v, vs := range cfg.Venues {
		vs.Enabled = v == event.BinanceUSDM
	}
	vs := cfg.Venues[event.BinanceUSDM]
	vs.StreamURL = url
	vs.RESTURL = "http://127.0.0.1:1" // never used by USD-M; keeps any call on loopback
	vs.Conns = conns
	cfg.General.DataDir = dir
	cfg.General.LogLevel = "warn"
	cfg.Store.Path = "demo.db"
	cfg.Alerts.Terminal = true
	cfg.Telegram.Enabled = false
	cfg.Enrich.Enabled = false
	cfg.Enrich.MinUSD = cfg.Alerts.MinUSD
}
