package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	liqembed "github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
)

// goldenEvent is one expected event, computed by testdata/golden/gen.py from
// the venue rules, never by running the decoders.
type goldenEvent struct {
	Symbol   string   `json:"symbol"`
	Side     string   `json:"side"`
	Market   string   `json:"market"`
	Qty      *float64 `json:"qty"`
	Price    float64  `json:"price"`
	Notional *float64 `json:"notional"`
	Basis    string   `json:"basis"`
	TimeMs   int64    `json:"time_ms"` // -1: the frame's receive time
	Flags    uint8    `json:"flags"`
}

// readLines returns the non-empty lines of a testdata file.
func readLines(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out
}

func offlineDecoder(t testing.TB, v event.Venue) Decoder {
	t.Helper()
	d, err := NewOfflineDecoder(v, liqembed.Instruments)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var goldenVenues = []struct {
	file  string
	venue event.Venue
}{
	{"binance_usdm", event.BinanceUSDM},
	{"binance_coinm", event.BinanceCOINM},
	{"bybit", event.Bybit},
	{"okx", event.OKX},
	{"bitmex", event.BitMEX},
	{"deribit", event.Deribit},
	{"kraken_futures", event.KrakenFutures},
	{"bitfinex", event.Bitfinex},
	{"bitget", event.Bitget},
	{"aster", event.Aster},
	{"htx", event.HTX},
	{"gate", event.Gate},
}

// floatEq compares to within 1e-12 relative: the decoders and gen.py do the
// same IEEE operations in the same order, so in practice they are equal.
func floatEq(got, want float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= 1e-12*math.Max(math.Abs(got), math.Abs(want))
}

func TestGoldenFrames(t *testing.T) {
	const recvNs = int64(1_800_000_000_123_456_789)
	for _, gv := range goldenVenues {
		t.Run(gv.file, func(t *testing.T) {
			lines := readLines(t, "frames/"+gv.file+".jsonl")
			raw, err := os.ReadFile(filepath.Join("testdata", "golden", gv.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want [][]goldenEvent
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if len(want) != len(lines) {
				t.Fatalf("golden has %d entries, frames file %d lines: rerun testdata/golden/gen.py", len(want), len(lines))
			}
			d := offlineDecoder(t, gv.venue)
			for i, line := range lines {
				t.Run("line"+strconv.Itoa(i+1), func(t *testing.T) {
					got, err := d.Decode(nil, line, recvNs)
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					if len(got) != len(want[i]) {
						t.Fatalf("got %d events, want %d", len(got), len(want[i]))
					}
					for j, w := range want[i] {
						checkEvent(t, j, &got[j], gv.venue, w, recvNs)
					}
				})
			}
		})
	}
}

func checkEvent(t *testing.T, j int, e *event.Event, v event.Venue, w goldenEvent, recvNs int64) {
	t.Helper()
	wantTime := w.TimeMs
	if wantTime == -1 {
		wantTime = recvNs / 1e6
	}
	if e.Venue != v || e.Symbol.String() != w.Symbol || e.Side.String() != w.Side ||
		e.Market.String() != w.Market || e.Basis.String() != w.Basis || e.TimeMs != wantTime ||
		uint8(e.Flags) != w.Flags || e.RecvNs != recvNs || e.Seq != 0 {
		t.Errorf("event %d: got venue=%s symbol=%s side=%s market=%s basis=%s time=%d flags=%d recv=%d seq=%d, want %+v",
			j, e.Venue, e.Symbol, e.Side, e.Market, e.Basis, e.TimeMs, e.Flags, e.RecvNs, e.Seq, w)
	}
	if !floatEq(e.Price, w.Price) {
		t.Errorf("event %d: price %v, want %v", j, e.Price, w.Price)
	}
	checkOpt(t, j, "qty", e.Qty, w.Qty)
	checkOpt(t, j, "notional", e.Notional, w.Notional)
	if (w.Notional != nil) != e.NotionalKnown() {
		t.Errorf("event %d: NotionalKnown %v, want %v", j, e.NotionalKnown(), w.Notional != nil)
	}
}

func checkOpt(t *testing.T, j int, name string, got float64, want *float64) {
	t.Helper()
	if want == nil {
		if !math.IsNaN(got) {
			t.Errorf("event %d: %s %v, want NaN (unknown)", j, name, got)
		}
		return
	}
	if !floatEq(got, *want) {
		t.Errorf("event %d: %s %v, want %v", j, name, got, *want)
	}
}

func TestControlFrames(t *testing.T) {
	for _, gv := range goldenVenues {
		t.Run(gv.file, func(t *testing.T) {
			d := offlineDecoder(t, gv.venue)
			for i, line := range readLines(t, "frames/"+gv.file+".control.jsonl") {
				got, err := d.Decode(nil, line, 1)
				if err != nil || len(got) != 0 {
					t.Errorf("line %d: got %d events, err %v; want none, nil", i+1, len(got), err)
				}
			}
		})
	}
}

// TestNotionalWithMetadata checks the frames whose instruments the embedded
// snapshots lack, with the contract sizes SOURCES.md documents for them:
// Binance BTCUSD_200925 contractSize 100 (Binance's doc example) and OKX
// XRP-USD-230929 inverse ctVal 10 USD, ctMult 1 (2023 snapshots).
func TestNotionalWithMetadata(t *testing.T) {
	coinm := testInstruments(t, event.BinanceCOINM, map[string]Instrument{
		"BTCUSD_200925": {Market: event.Inverse, Basis: event.BasisContractSize, Size: 100},
	})
	okx := testInstruments(t, event.OKX, map[string]Instrument{
		"XRP-USD-230929": {Market: event.Inverse, Basis: event.BasisInverse, Size: 10},
	})
	cases := []struct {
		d        Decoder
		file     string
		line     int
		qty, usd float64
		basis    event.Basis
	}{
		{NewBinanceCOINMDecoder(coinm), "binance_coinm", 1, 100.0 / 9496.5, 100, event.BasisContractSize},
		{NewBinanceCOINMDecoder(coinm), "binance_coinm", 2, 300.0 / 9352.7, 300, event.BasisContractSize},
		{NewOKXDecoder(okx), "okx", 4, 390.0 / 0.55205, 390, event.BasisInverse},
	}
	for _, c := range cases {
		line := readLines(t, "frames/"+c.file+".jsonl")[c.line-1]
		got, err := c.d.Decode(nil, line, 1)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s:%d: %d events, err %v", c.file, c.line, len(got), err)
		}
		e := got[0]
		if e.Basis != c.basis || e.Market != event.Inverse || !floatEq(e.Notional, c.usd) || !floatEq(e.Qty, c.qty) {
			t.Errorf("%s:%d: basis %s market %s notional %v qty %v; want %s inverse %v %v",
				c.file, c.line, e.Basis, e.Market, e.Notional, e.Qty, c.basis, c.usd, c.qty)
		}
	}
}

// testInstruments returns an Instruments of venue v serving table m.
func testInstruments(t testing.TB, v event.Venue, m map[string]Instrument) *Instruments {
	t.Helper()
	in, err := NewInstruments(v, VenueConfig{Snapshots: liqembed.Instruments})
	if err != nil {
		t.Fatal(err)
	}
	in.store(NewTable(SourceREST, time.Now(), m))
	return in
}
