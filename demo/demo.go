// Package demo is `liqbox demo`: the service on the embedded sample of
// real Binance USD-M liquidations, played through a loopback exchange at a
// chosen speed, alerts on the terminal, nothing leaving the box. The load
// test builds on its sample and its configuration.
package demo

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
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
	"github.com/liqbox/liqbox/money"
	"github.com/liqbox/liqbox/service"
)

// Session is one recording, in time order: each row is a recorded
// forceOrder's liquidation, with its recorded exchange time, as
// ingesttest's Binance encoder takes it.
type Session struct {
	Name string
	Rows []ingesttest.Liquidation
}

// LoadSample reads the embedded recordings. The recorders stripped "USDT"
// from most symbols and wrote "None" for a missing average price
// (demo/SOURCES.md); frames are rebuilt as Binance would send them, with
// the symbol restored and "ap":"0" where the price was missing, which the
// decoder must answer by falling back to "p".
func LoadSample() ([]Session, error) {
	files, err := fs.Glob(embed.Demo, "demo/*.csv")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []Session
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
		s := Session{Name: strings.TrimSuffix(path.Base(f), ".csv")}
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
			// "S" is the order's side: a SELL closes a long.
			side := event.Long
			switch rec[1] {
			case "BUY":
				side = event.Short
			case "SELL":
			default:
				return nil, fmt.Errorf("sample %s row %d: bad side %q", f, i+1, rec[1])
			}
			s.Rows = append(s.Rows, ingesttest.Liquidation{
				Symbol: sym, Side: side, Qty: rec[4], Price: rec[5], AvgPrice: ap, TimeMs: t,
			})
		}
		sort.SliceStable(s.Rows, func(i, j int) bool { return s.Rows[i].TimeMs < s.Rows[j].TimeMs })
		out = append(out, s)
	}
	return out, nil
}

// Play broadcasts the sessions through ex at their recorded pace
// divided by speed, one session after another, looping until ctx ends.
// Pauses longer than maxPause (recorded time) are cut short so a quiet
// spell in a recording does not look like a dead demo.
func Play(ctx context.Context, ex *ingesttest.Loopback, sessions []Session, speed float64, loop bool) (int, error) {
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
				l := *row
				l.TimeMs = time.Now().UnixMilli() // replayed at "now", not in 2024
				ex.Broadcast(ingesttest.AppendBinance(nil, &l))
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

// Configure turns the default config into the demo's: only Binance USD-M,
// through the loopback exchange; no Telegram and no LLM (nothing leaves the
// box); alerts on the terminal; the log in dir.
func Configure(cfg *service.Config, url, dir string, conns int) {
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

// Options are `liqbox demo`'s flags and streams.
type Options struct {
	Speed  float64 // 1 is the recorded pace
	Listen string  // address for HTTP; a busy one falls back to a free port
	MinUSD float64 // terminal threshold (alerts.min_usd)
	Conns  int     // redundant connections to the loopback exchange
	Loop   bool    // start the sample over when it ends
	Stdout io.Writer
	Stderr io.Writer
	Color  bool
}

// Run plays the sample through the service until ctx ends (or, without
// Loop, the sample does and ctx ends).
func Run(ctx context.Context, o Options) error {
	cfg, err := service.LoadConfig("")
	if err != nil {
		return err
	}
	cfg.Alerts.MinUSD = o.MinUSD
	sessions, err := LoadSample()
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
	Configure(cfg, ex.URL("/market/stream?streams=!forceOrder@arr"), dir, o.Conns)

	addr := o.Listen
	if addr == "" {
		addr = cfg.HTTP.Listen
	}
	ln, err := net.Listen("tcp", addr)
	var opErr *net.OpError
	if err != nil && errors.As(err, &opErr) && o.Listen != "" {
		// The default port is taken (another liqbox?): pick a free one
		// rather than fail a demo.
		addr = "127.0.0.1:0"
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("cannot listen on %s for /metrics: %w", addr, err)
	}
	svc, err := service.New(service.Options{Config: cfg, Logger: service.NewLogger(o.Stderr, cfg),
		Stdout: o.Stdout, Color: o.Color, Listener: ln})
	if err != nil {
		ln.Close()
		return err
	}
	rows := 0
	for _, s := range sessions {
		rows += len(s.Rows)
	}
	fmt.Fprintf(o.Stderr, `liqbox demo — recorded data, not live.
  replaying %d real Binance USD-M liquidations (4 recordings, 2024-08 to 2025-06) at %gx
  through a loopback exchange at %s (%d redundant connections)
  alerts at or above $%s below; /metrics at http://%s/metrics, status page at http://%s/
  log in %s (deleted on exit); Ctrl-C to stop

`, rows, o.Speed, ex.Addr(), o.Conns, strings.TrimPrefix(string(money.AppendUSD(nil, cfg.Alerts.MinUSD, "0")), "$"), svc.Addr(), svc.Addr(), dir)

	playCtx, stopPlay := context.WithCancel(ctx)
	played := make(chan int, 1)
	go func() {
		wctx, cancel := context.WithTimeout(playCtx, 10*time.Second)
		ex.WaitClients(wctx, 1)
		cancel()
		n, _ := Play(playCtx, ex, sessions, o.Speed, o.Loop)
		played <- n
	}()
	err = svc.Run(ctx)
	stopPlay()
	n := <-played
	fmt.Fprintf(o.Stderr, "\ndemo: %d frames played to each of %d connections, %d distinct events logged\n", n, o.Conns, svc.LastSeq())
	return err
}
