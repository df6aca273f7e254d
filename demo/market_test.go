package demo

import (
	"bytes"
	"context"
	"io"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// TestSharesCoverEveryVenue: the whole market is every venue liqbox
// knows, once each, Binance USD-M with the largest share, and the
// schedule hands each venue its weight's turns.
func TestSharesCoverEveryVenue(t *testing.T) {
	seen := map[event.Venue]int{}
	total, usdm := 0, 0
	for _, s := range Shares() {
		seen[s.Venue]++
		total += s.Weight
		if s.Venue == event.BinanceUSDM {
			usdm = s.Weight
		}
	}
	for _, v := range event.Venues() {
		if seen[v] != 1 {
			t.Errorf("%s has %d shares, want 1", v, seen[v])
		}
		if v != event.BinanceUSDM && len(instruments[v]) == 0 {
			t.Errorf("%s has no instruments to play", v)
		}
	}
	for _, s := range Shares() {
		if s.Venue != event.BinanceUSDM && s.Weight >= usdm {
			t.Errorf("%s weighs %d, not below Binance USD-M's %d", s.Venue, s.Weight, usdm)
		}
	}
	sched, turns := NewSchedule(), map[event.Venue]int{}
	for range 2 * total {
		turns[sched.Next()]++
	}
	for _, s := range Shares() {
		if turns[s.Venue] != 2*s.Weight {
			t.Errorf("%s had %d turns of %d, want %d", s.Venue, turns[s.Venue], 2*total, 2*s.Weight)
		}
	}
}

// demoKey is a played liquidation as the log shows it.
type demoKey struct {
	venue event.Venue
	sym   string
	side  event.Side
	price float64
}

// TestDemoPlaysEveryVenue runs `liqbox demo` (the real service, every
// venue's loopback exchange) through the sample once, fast, and reads the
// log it keeps: each of the twelve venues logged events, each with the
// side, symbol, price and USD notional of the liquidation the demo's
// translation gave that venue.
func TestDemoPlaysEveryVenue(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the service for about eight seconds")
	}
	sessions, err := LoadSample()
	if err != nil {
		t.Fatal(err)
	}
	all := len(Rows(sessions))
	dir := t.TempDir()
	var errw bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	err = Run(ctx, Options{Speed: 2000, Listen: "127.0.0.1:0", MinUSD: 1e10, Conns: 2, DataDir: dir,
		Stdout: io.Discard, Stderr: &errw})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, errw.String())
	}

	// The expectations, rebuilt as Play builds them: the schedule's venue
	// for each row in play order, the market's translation for it.
	market, err := NewMarket(Rows(sessions))
	if err != nil {
		t.Fatal(err)
	}
	want := map[demoKey][]float64{}
	sched, n := NewSchedule(), 0
	for _, s := range sessions {
		for i := range s.Rows {
			v := sched.Next()
			liq := market.Translate(v, &s.Rows[i], n)
			n++
			k := demoKey{v, liq.Liq.Symbol, liq.Liq.Side, liq.Price}
			want[k] = append(want[k], liq.USD)
		}
	}

	st, err := store.Open(filepath.Join(dir, "demo.db"), store.Options{ReadOnly: true, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := map[event.Venue]int{}
	bad, total := 0, 0
	err = st.Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
		total++
		got[ev.Venue]++
		ok := false
		for _, usd := range want[demoKey{ev.Venue, ev.Symbol.String(), ev.Side, ev.Price}] {
			if math.Abs(ev.Notional-usd) <= 1e-9*math.Max(1, usd) {
				ok = true
			}
		}
		if !ok {
			if bad < 5 {
				t.Errorf("%s %s %s @ %v $%v: no liquidation played on %s has it", ev.Venue, ev.Symbol, ev.Side, ev.Price, ev.Notional, ev.Venue)
			}
			bad++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total < all*9/10 {
		t.Errorf("the log holds %d events of the %d rows played\n%s", total, all, errw.String())
	}
	for _, v := range event.Venues() {
		if got[v] == 0 {
			t.Errorf("%s logged nothing", v)
		}
	}
	t.Logf("%d events logged of %d rows: %v", total, all, got)
}
