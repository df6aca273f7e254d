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
	"hash/fnv"
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
	"github.com/liqbox/liqbox/retry"
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

// PlayOptions say where and how the sample is played.
type PlayOptions struct {
	// Exchange gets every row as Binance sends it; nil: no direct feed.
	Exchange *ingesttest.Loopback
	// Relay gets every row as the HolySheep relay publishes it, but for
	// RelayDrop of them (left out) and RelayFlip (sent with the other
	// side): a relay degraded on purpose. Which rows is decided by the row
	// alone, so every run degrades the same ones. Nil: no relay.
	Relay                *ingesttest.Relay
	RelayDrop, RelayFlip float64
	Speed                float64 // 1 is the recorded pace
	Loop                 bool
	// Start is the wall-clock moment of the first row [now]. Every row is
	// sent, and stamped with its exchange time, on a schedule from Start:
	// two demos given the same Start and Speed replay the same
	// liquidations with the same times.
	Start time.Time
}

// Play plays the sessions at their recorded pace divided by Speed, one
// session after another, looping until ctx ends (or, without Loop, once),
// and returns how many rows it sent. Pauses longer than maxPause
// (recorded time) are cut short so a quiet spell in a recording does not
// look like a dead demo.
func Play(ctx context.Context, sessions []Session, o PlayOptions) (int, error) {
	const maxPause = 20 * time.Second
	at := o.Start
	if at.IsZero() {
		at = time.Now()
	}
	scaled := func(d time.Duration) time.Duration { return time.Duration(float64(d) / o.Speed) }
	sent := 0
	for {
		for _, s := range sessions {
			var prev int64
			for i := range s.Rows {
				row := &s.Rows[i]
				if i > 0 {
					at = at.Add(scaled(min(time.Duration(row.TimeMs-prev)*time.Millisecond, maxPause)))
				}
				prev = row.TimeMs
				if d := time.Until(at); d > 0 && !retry.Sleep(ctx, d) {
					return sent, nil
				}
				tMs := at.UnixMilli()
				if o.Exchange != nil {
					l := *row
					l.TimeMs = tMs
					o.Exchange.Broadcast(ingesttest.AppendBinance(nil, &l))
				}
				if o.Relay != nil {
					if l, ok := relayed(s.Name, i, row, tMs, o.RelayDrop, o.RelayFlip); ok {
						o.Relay.Send(l)
					}
				}
				sent++
			}
			at = at.Add(scaled(2 * time.Second))
			if d := time.Until(at); d > 0 && !retry.Sleep(ctx, d) {
				return sent, nil
			}
		}
		if !o.Loop {
			return sent, nil
		}
	}
}

// relayed is row as the relay publishes it (a long position liquidated
// when Binance's order side is SELL; the USD the quantity at the fill
// price), unless the row is one the degradation drops (ok false) or
// flips.
func relayed(session string, i int, row *ingesttest.Liquidation, tMs int64, drop, flip float64) (ingesttest.HolySheepLiquidation, bool) {
	h := fnv.New64a()
	h.Write([]byte(session))
	h.Write([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
	u := h.Sum64()
	share := func(x uint64) float64 { return float64(x%1_000_000) / 1e6 }
	if share(u) < drop {
		return ingesttest.HolySheepLiquidation{}, false
	}
	side := row.Side
	if share(u>>24) < flip {
		side = event.Short + event.Long - side
	}
	price := row.AvgPrice
	if p, err := strconv.ParseFloat(price, 64); err != nil || p == 0 {
		price = row.Price
	}
	p, _ := strconv.ParseFloat(price, 64)
	q, _ := strconv.ParseFloat(row.Qty, 64)
	return ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: row.Symbol, Side: side,
		QuantityUSD: strconv.FormatFloat(q*p, 'f', 2, 64), Price: price, TimeMs: tMs, AIAnalysis: true}, true
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
	Listen string  // address for HTTP, which must be free; "" for the default, or a free port when it is taken
	MinUSD float64 // terminal threshold (alerts.min_usd)
	// Conns is the number of redundant connections to the loopback
	// exchange; 0 (with Relay) reads the relay alone.
	Conns int
	Loop  bool // start the sample over when it ends
	// DataDir keeps the log there (DIR/demo.db), for the log tools and
	// `liqbox compare`; empty: a temporary directory, deleted at the end.
	DataDir string
	// Relay also plays the sample through a loopback HolySheep relay
	// stand-in, RelayLag behind, degraded by RelayDrop and RelayFlip
	// (PlayOptions), read as [relay.holysheep] beside the exchange.
	Relay                bool
	RelayLag             time.Duration
	RelayDrop, RelayFlip float64
	// Align starts the playback at the next multiple of Align on the wall
	// clock, so demos started together replay the same liquidations at the
	// same moments with the same times (for `liqbox compare`); 0 starts
	// at once.
	Align  time.Duration
	Stdout io.Writer
	Stderr io.Writer
	Color  bool
}

// demoRelayKey is the key the demo's relay stand-in takes: the real
// client sends it in its handshake, as it would HOLYSHEEP_API_KEY.
const demoRelayKey = "sk-liqbox-demo-relay"

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

	dir, keep := o.DataDir, "deleted on exit"
	if dir == "" {
		if dir, err = os.MkdirTemp("", "liqbox-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else {
		keep = "kept"
	}
	Configure(cfg, ex.URL("/market/stream?streams=!forceOrder@arr"), dir, max(o.Conns, 1))
	var relay *ingesttest.Relay
	if o.Relay {
		if relay, err = ingesttest.NewRelay(ingesttest.RelayOptions{Key: demoRelayKey, Lag: o.RelayLag, PingEvery: 20 * time.Second}); err != nil {
			return fmt.Errorf("cannot start the loopback relay: %w", err)
		}
		defer relay.Close()
		cfg.Relay.Enabled = true
		cfg.Relay.StreamURL = relay.URL()
		cfg.Relay.Exchanges = []string{"binance"}
		cfg.Relay.ThresholdUSD = 0
	}
	if o.Conns == 0 {
		if !o.Relay {
			return errors.New("demo: with no connection to the exchange (conns 0) only the relay is left: add --relay")
		}
		cfg.Venues[event.BinanceUSDM].Enabled = false
	}

	addr := cfg.HTTP.Listen
	if o.Listen != "" {
		// An address asked for goes through the config's rules (loopback
		// unless allowed) and is used or fails: never silently another.
		if err := cfg.SetFrom("--listen", "http.listen", o.Listen); err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		addr = o.Listen
	}
	ln, err := net.Listen("tcp", addr)
	var opErr *net.OpError
	if err != nil && errors.As(err, &opErr) && o.Listen == "" {
		// The default port is taken (another liqbox?): pick a free one
		// rather than fail a demo nobody gave an address.
		addr = "127.0.0.1:0"
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("cannot listen on %s for /metrics and the status page (is another liqbox running? choose a free port with --listen 127.0.0.1:PORT, or 127.0.0.1:0 for any): %w", addr, err)
	}
	so := service.Options{Config: cfg, Logger: service.NewLogger(o.Stderr, cfg), Stdout: o.Stdout, Color: o.Color, Listener: ln}
	if o.Relay {
		so.LLMKey = demoRelayKey // the relay's key; enrichment is off in the demo
	}
	svc, err := service.New(so)
	if err != nil {
		ln.Close()
		return err
	}
	rows := 0
	for _, s := range sessions {
		rows += len(s.Rows)
	}
	via := fmt.Sprintf("through a loopback exchange at %s (%d redundant connections)", ex.Addr(), o.Conns)
	switch {
	case o.Relay && o.Conns == 0:
		via = "through a loopback HolySheep relay only"
	case o.Relay:
		via += " and a loopback HolySheep relay"
	}
	if o.Relay {
		via += fmt.Sprintf(" (%v behind, %g%% dropped, %g%% flipped)", o.RelayLag, 100*o.RelayDrop, 100*o.RelayFlip)
	}
	fmt.Fprintf(o.Stderr, `liqbox demo — recorded data, not live.
  replaying %d real Binance USD-M liquidations (4 recordings, 2024-08 to 2025-06) at %gx
  %s
  alerts at or above $%s below; /metrics at http://%s/metrics, status page at http://%s/
  log in %s (%s); Ctrl-C to stop

`, rows, o.Speed, via, strings.TrimPrefix(string(money.AppendUSD(nil, cfg.Alerts.MinUSD, "0")), "$"), svc.Addr(), svc.Addr(), dir, keep)

	playCtx, stopPlay := context.WithCancel(ctx)
	played := make(chan int, 1)
	po := PlayOptions{Relay: relay, RelayDrop: o.RelayDrop, RelayFlip: o.RelayFlip, Speed: o.Speed, Loop: o.Loop}
	if o.Conns > 0 {
		po.Exchange = ex
	}
	go func() {
		wctx, cancel := context.WithTimeout(playCtx, 10*time.Second)
		if po.Exchange != nil {
			ex.WaitClients(wctx, 1)
		}
		if relay != nil {
			relay.WaitSubscribed(wctx, 1)
		}
		cancel()
		if o.Align > 0 {
			po.Start = time.Now().Truncate(o.Align).Add(o.Align)
		}
		n, _ := Play(playCtx, sessions, po)
		played <- n
	}()
	err = svc.Run(ctx)
	stopPlay()
	n := <-played
	fmt.Fprintf(o.Stderr, "\ndemo: %d liquidations played, %d distinct events logged\n", n, svc.LastSeq())
	return err
}
