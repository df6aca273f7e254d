// Package demo is `liqbox demo`: the service on the embedded sample of
// real Binance USD-M liquidations, spread over every venue and played
// through each venue's own loopback exchange in its frame format at a
// chosen speed, alerts on the terminal, nothing leaving the box. The load
// test builds on its sample, its market and its configuration.
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
	"github.com/liqbox/liqbox/ingest"
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

// Rows returns every session's rows, in play order.
func Rows(sessions []Session) []ingesttest.Liquidation {
	var out []ingesttest.Liquidation
	for _, s := range sessions {
		out = append(out, s.Rows...)
	}
	return out
}

// PlayOptions say where and how the sample is played.
type PlayOptions struct {
	// Exchanges get every row, each on the venue whose turn it is
	// (Schedule), as Market translates it for that venue; nil: no direct
	// feed.
	Exchanges *Exchanges
	Market    *Market
	// Relay gets every row played on Binance USD-M as the HolySheep relay
	// publishes it (the relay carries Binance alone), but for RelayDrop of
	// them (left out) and RelayFlip (sent with the other side): a relay
	// degraded on purpose. Which rows is decided by the row alone, so
	// every run degrades the same ones. Nil: no relay.
	Relay                *ingesttest.Relay
	RelayDrop, RelayFlip float64
	Speed                float64 // 1 is the recorded pace
	Loop                 bool
	// Start is the wall-clock moment of the first row [now]. Every row is
	// sent, and stamped with its exchange time, on a schedule from Start:
	// two demos given the same Start and Speed replay the same
	// liquidations with the same times on the same venues.
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
	sched := NewSchedule()
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
				v := sched.Next()
				if o.Exchanges != nil {
					liq := o.Market.Translate(v, row, sent)
					o.Exchanges.Send(&liq, tMs)
				}
				if o.Relay != nil && v == event.BinanceUSDM {
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
	return ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: row.Symbol, Side: side,
		QuantityUSD: strconv.FormatFloat(SampleUSD(row), 'f', 2, 64), Price: RowPrice(row), TimeMs: tMs, AIAnalysis: true}, true
}

// Configure turns the default config into the demo's: Binance USD-M alone,
// through the loopback exchange at url (Exchanges.Configure then enables
// the whole market, as the demo and the load test's mix do); no Telegram
// and no LLM (nothing leaves the box); alerts on the terminal; the log in
// dir.
func Configure(cfg *service.Config, url, dir string, conns int) {
	for v, vs := range cfg.Venues {
		vs.Enabled = v == event.BinanceUSDM
	}
	vs := cfg.Venues[event.BinanceUSDM]
	vs.StreamURL = url
	vs.RESTURL = ingest.RESTOff // USD-M needs no metadata; nothing leaves loopback
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
	// Conns is the number of redundant connections to Binance USD-M's
	// loopback exchange (every other venue gets its production default,
	// one); 0 (with Relay) reads Binance USD-M from the relay alone.
	Conns int
	Loop  bool // start the sample over when it ends
	// DataDir keeps the log there (DIR/demo.db), for the log tools and
	// `liqbox compare`; empty: a temporary directory, deleted at the end.
	DataDir string
	// Relay also plays the sample's Binance USD-M rows through a
	// loopback HolySheep relay stand-in, RelayLag behind, degraded by
	// RelayDrop and RelayFlip (PlayOptions), read as [relay.holysheep]
	// beside the exchange.
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
	if o.Conns == 0 && !o.Relay {
		return errors.New("demo: with no connection to Binance USD-M (conns 0) only the relay could carry it: add --relay")
	}
	cfg, err := service.LoadConfig("")
	if err != nil {
		return err
	}
	cfg.Alerts.MinUSD = o.MinUSD
	sessions, err := LoadSample()
	if err != nil {
		return err
	}
	rows := Rows(sessions)
	market, err := NewMarket(rows)
	if err != nil {
		return err
	}
	ex, err := StartExchanges(o.Conns)
	if err != nil {
		return err
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
	usdm := ex.Exchange(event.BinanceUSDM)
	Configure(cfg, usdm.URL(ingesttest.VenuePath(event.BinanceUSDM)+"?streams=!forceOrder@arr"), dir, max(o.Conns, 1))
	ex.Configure(cfg)
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
	var usdmShare, total int
	for _, sh := range Shares() {
		total += sh.Weight
		if sh.Venue == event.BinanceUSDM {
			usdmShare = sh.Weight
		}
	}
	via := fmt.Sprintf("Binance USD-M over %d redundant connections", o.Conns)
	switch {
	case o.Relay && o.Conns == 0:
		via = "Binance USD-M through a loopback HolySheep relay only"
	case o.Relay:
		via += " and a loopback HolySheep relay"
	}
	if o.Relay {
		via += fmt.Sprintf(" (%v behind, %g%% dropped, %g%% flipped)", o.RelayLag, 100*o.RelayDrop, 100*o.RelayFlip)
	}
	venues := len(event.Venues())
	fmt.Fprintf(o.Stderr, `liqbox demo — recorded data, not live.
  replaying %d real Binance USD-M liquidations (4 recordings, 2024-08 to 2025-06) at %gx over all %d venues,
  each from its own loopback exchange in its own frame format: Binance USD-M plays %d%% of them as recorded,
  the other %d venues the rest as BTC or ETH contracts of theirs, each row keeping its side and USD size
  %s
  alerts at or above $%s below; /metrics at http://%s/metrics, status page at http://%s/
  log in %s (%s); Ctrl-C to stop

`, len(rows), o.Speed, venues, 100*usdmShare/total, venues-1, via,
		strings.TrimPrefix(string(money.AppendUSD(nil, cfg.Alerts.MinUSD, "0")), "$"), svc.Addr(), svc.Addr(), dir, keep)

	playCtx, stopPlay := context.WithCancel(ctx)
	played := make(chan int, 1)
	po := PlayOptions{Exchanges: ex, Market: market, Relay: relay, RelayDrop: o.RelayDrop, RelayFlip: o.RelayFlip,
		Speed: o.Speed, Loop: o.Loop}
	go func() {
		// Every venue's connections up and subscribed first: a frame
		// before Bitfinex's acknowledgement would be refused, one before
		// Kraken's subscription never asked for.
		wctx, cancel := context.WithTimeout(playCtx, 10*time.Second)
		ex.WaitClients(wctx)
		WaitStreamsLive(wctx, svc.Streams())
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
