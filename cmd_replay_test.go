package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/history"
	"github.com/liqbox/liqbox/store"
)

var logT0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// knownEvents: 60 liquidations, one every 10 s from logT0; every tenth is
// $1M on bybit ETHUSDT (short), the rest $50k..$340k on binance BTCUSDT
// (long); seq 7 has an unknown notional.
func knownEvents() []event.Event {
	var evs []event.Event
	for i := 0; i < 60; i++ {
		at := logT0.Add(time.Duration(i) * 10 * time.Second)
		ev := event.Event{
			Seq: uint64(i + 1), RecvNs: at.UnixNano(), TimeMs: at.UnixMilli() - 5,
			Price: 97000, Venue: event.BinanceUSDM, Market: event.Linear, Side: event.Long,
			Basis: event.BasisLinear, Symbol: event.MakeSymbol("BTCUSDT"),
		}
		ev.Notional = 50_000 + float64(i%30)*10_000
		if i%10 == 9 {
			ev.Venue, ev.Side, ev.Symbol, ev.Notional = event.Bybit, event.Short, event.MakeSymbol("ETHUSDT"), 1_000_000
		}
		ev.Qty = ev.Notional / ev.Price
		if i == 6 {
			ev.Notional, ev.Basis = math.NaN(), event.BasisUnknown
		}
		evs = append(evs, ev)
	}
	return evs
}

// writeLog builds a log of knownEvents; with keep it leaves the writer
// running (returning its stop function).
func writeLog(t *testing.T, keep bool) (string, func()) {
	t.Helper()
	return writeEvents(t, knownEvents(), keep, nil)
}

// writeEvents builds a log of evs, then runs more (when not nil) on the
// open store; with keep it leaves the writer running.
func writeEvents(t *testing.T, evs []event.Event, keep bool, more func(*store.Store)) (string, func()) {
	t.Helper()
	path, st, stop := startLog(t)
	for i := range evs {
		st.Append(&evs[i])
	}
	waitLogged(st, len(evs))
	if more != nil {
		more(st)
	}
	if !keep {
		stop()
		stop = func() {}
	}
	return path, stop
}

// startLog opens a new log and runs its writer; stop ends the writer and
// closes the log.
func startLog(t *testing.T) (path string, st *store.Store, stop func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "liqbox.db")
	st, stop = startLogAt(t, path)
	return path, st, stop
}

// startLogAt opens a new log at path and runs its writer; stop ends the
// writer and closes the log.
func startLogAt(t *testing.T, path string) (st *store.Store, stop func()) {
	t.Helper()
	st, err := store.Open(path, store.Options{Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	return st, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		st.Close()
	}
}

// waitLogged waits until n events are durable in st.
func waitLogged(st *store.Store, n int) {
	for st.Durable() < uint64(n) {
		time.Sleep(time.Millisecond)
	}
}

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

const from, to = "2026-11-27T12:00:00Z", "2026-11-27T13:00:00Z"

func TestExportJSONLAndCSV(t *testing.T) {
	path, _ := writeLog(t, false)
	out, _, err := runCLI(t, "export", "--db", path, "--format", "jsonl", "--from", from, "--to", to)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 60 {
		t.Fatalf("jsonl: %d lines, want 60", len(lines))
	}
	var first struct {
		Venue    string   `json:"venue"`
		Symbol   string   `json:"symbol"`
		Side     string   `json:"side"`
		Notional *float64 `json:"notional_usd"`
		Seq      uint64   `json:"seq"`
		RecvNs   int64    `json:"recv_ns"`
		Market   string   `json:"market"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("jsonl line %q: %v", lines[0], err)
	}
	if first.Venue != "binance-usdm" || first.Symbol != "BTCUSDT" || first.Side != "long" || first.Seq != 1 ||
		first.Notional == nil || *first.Notional != 50000 || first.RecvNs != logT0.UnixNano() || first.Market != "linear" {
		t.Errorf("first jsonl event = %+v", first)
	}
	var unknown map[string]any
	json.Unmarshal([]byte(lines[6]), &unknown)
	if unknown["notional_usd"] != nil {
		t.Errorf("unknown notional exported as %v, want null", unknown["notional_usd"])
	}

	out, _, err = runCLI(t, "export", "--db", path, "--format", "csv", "--from", from, "--to", to,
		"--symbol", "ethusdt", "--min-usd", "500k")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || rows[0][0] != "seq" || rows[1][0] != "10" || rows[1][5] != "ETHUSDT" || rows[1][9] != "1000000" {
		t.Errorf("csv = %v", rows)
	}
}

func TestReplayWindowAndFormat(t *testing.T) {
	path, _ := writeLog(t, false)
	out, _, err := runCLI(t, "replay", "--db", path, "--from", "2026-11-27T12:01:00Z", "--to", "2026-11-27T12:02:00Z", "--venue", "binance-usdm")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// 12:01:00..12:01:50 is seq 7..12; seq 10 is bybit.
	if len(lines) != 5 {
		t.Fatalf("replay table: %d lines, want 5:\n%s", len(lines), out)
	}
	if !strings.Contains(lines[0], "BTCUSDT") || !strings.Contains(lines[0], "LONG") || !strings.Contains(lines[0], "seq 7") {
		t.Errorf("replay line = %q", lines[0])
	}
	// The live line's on-box figure is the box's time for the event as it
	// arrived; a replay has none to show.
	for _, l := range lines {
		if strings.Contains(l, "on-box") {
			t.Errorf("replay line %q shows an on-box figure", l)
		}
	}
	if _, _, err := runCLI(t, "replay", "--db", path, "--format", "xml"); err == nil {
		t.Errorf("bad format accepted")
	}
	if _, _, err := runCLI(t, "replay", "--db", path, "--from", "yesterday"); err == nil {
		t.Errorf("bad time accepted")
	}
}

func TestStatsAndBacktest(t *testing.T) {
	path, _ := writeLog(t, false)
	out, _, err := runCLI(t, "stats", "--db", path, "--from", from, "--to", to)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"liquidations  60", "unknown size  1", "bybit", "ETHUSDT", "busiest minute", "largest liquidations",
		"complete?     totals are a lower bound: binance-usdm sends only some liquidations\n",
		"binance-usdm  lower bound: Binance sends at most 1 liquidation per symbol per second\n",
		"bybit         complete: Bybit says it sends every liquidation, in 500 ms batches\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "on-box") {
		t.Errorf("stats' largest liquidations show an on-box figure:\n%s", out)
	}

	out, _, err = runCLI(t, "backtest", "--db", path, "--from", from, "--to", to, "--threshold", "300k,1m", "--window", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "$1M") {
		t.Errorf("backtest output:\n%s", out)
	}
	// Direct check of the rule on the same events.
	var alerts []history.Alert
	for _, ev := range knownEvents() {
		a := history.Alert{Ns: ev.RecvNs}
		if ev.NotionalKnown() {
			a.USD = ev.Notional
		}
		alerts = append(alerts, a)
	}
	res := history.Backtest(alerts, []float64{300_000, 1_000_000}, time.Minute)
	// ≥300k: notional 300k..340k at i%30 in 25..29 (i=25..28, 55..58 → 8,
	// 29 and 59 are bybit $1M), the 6 bybit ones, and the unknown one.
	if res[0].Alerts != 8+6+1 || res[1].Alerts != 6+1 {
		t.Errorf("alerts at 300k, 1m = %d, %d; want 15, 7", res[0].Alerts, res[1].Alerts)
	}
	// The densest minute at 300k is 12:04:10..12:04:50: four BTC and one ETH.
	if res[0].CascadeN != 5 || res[0].CascadeUSD != 300_000+310_000+320_000+330_000+1_000_000 || res[0].WorstHourN != 15 {
		t.Errorf("300k: cascade %d (%v), worst hour %d; want 5 ($2.26M), 15", res[0].CascadeN, res[0].CascadeUSD, res[0].WorstHourN)
	}
}

func TestReadOnlyCommandsWhileRunning(t *testing.T) {
	path, stop := writeLog(t, true)
	defer stop()
	out, _, err := runCLI(t, "export", "--db", path, "--format", "jsonl", "--from", from, "--to", to)
	if err != nil {
		t.Fatalf("export while the writer runs: %v", err)
	}
	if n := strings.Count(out, "\n"); n != 60 {
		t.Errorf("export while running: %d events", n)
	}
	bk := filepath.Join(t.TempDir(), "backup.db")
	if _, _, err := runCLI(t, "backup", "--db", path, "--out", bk); err != nil {
		t.Fatalf("backup while running: %v", err)
	}
	// The running log (its snapshot) against its backup: the same 60.
	out, _, err = runCLI(t, "compare", "--from", from, "--to", to, path, bk)
	if err != nil || !strings.Contains(out, "verdict: PROMOTE") || !strings.Contains(out, "(0 of 60, 0 during B's gaps)") {
		t.Errorf("compare while running: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "compact", "--db", path); err == nil {
		t.Errorf("compact of a running log succeeded")
	}
	out2 := filepath.Join(t.TempDir(), "c.db")
	if _, _, err := runCLI(t, "compact", "--db", bk, "--out", out2); err != nil {
		t.Fatalf("compact of the backup: %v", err)
	}
	out, _, err = runCLI(t, "stats", "--db", out2, "--from", from, "--to", to)
	if err != nil || !strings.Contains(out, "liquidations  60") {
		t.Errorf("stats of compacted backup: %v\n%s", err, out)
	}
}
