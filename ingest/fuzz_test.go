package ingest

import (
	"math"
	"strconv"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// fuzzDecode feeds data, and each half of it, to d: no input may panic, an
// error must leave dst as it was, and every event must be well-formed.
func fuzzDecode(f *testing.F, v event.Venue, file string) {
	for _, name := range []string{file + ".jsonl", file + ".control.jsonl"} {
		for _, line := range readLines(f, "frames/"+name) {
			f.Add(line)
			f.Add(line[:len(line)/2]) // a frame split in two
			f.Add(line[len(line)/2:])
		}
	}
	f.Add([]byte("pong"))
	f.Add([]byte(""))
	d := offlineDecoder(f, v)
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(b []byte) {
			prefix := []event.Event{{Seq: 42}}
			got, err := d.Decode(prefix, b, 1)
			if err != nil {
				if len(got) != 1 || got[0].Seq != 42 {
					t.Fatalf("error %v but dst changed to %d events", err, len(got))
				}
				return
			}
			for i := 1; i < len(got); i++ {
				e := &got[i]
				if e.Venue != v || e.Side == event.SideUnknown || e.RecvNs != 1 {
					t.Fatalf("bad event %+v", e)
				}
				if e.Basis == event.BasisUnknown && !math.IsNaN(e.Notional) {
					t.Fatalf("unknown basis with notional %v", e.Notional)
				}
				if e.Basis != event.BasisUnknown && (math.IsNaN(e.Notional) || e.Notional < 0) {
					t.Fatalf("basis %s with notional %v", e.Basis, e.Notional)
				}
			}
		}
		check(data)
		check(data[:len(data)/2])
		check(data[len(data)/2:])
	})
}

func FuzzDecodeBinanceUSDM(f *testing.F)  { fuzzDecode(f, event.BinanceUSDM, "binance_usdm") }
func FuzzDecodeBinanceCOINM(f *testing.F) { fuzzDecode(f, event.BinanceCOINM, "binance_coinm") }
func FuzzDecodeBybit(f *testing.F)        { fuzzDecode(f, event.Bybit, "bybit") }
func FuzzDecodeOKX(f *testing.F)          { fuzzDecode(f, event.OKX, "okx") }
func FuzzDecodeBitMEX(f *testing.F)       { fuzzDecode(f, event.BitMEX, "bitmex") }

// TestParseDecimalMatchesStrconv checks the fast path against strconv on the
// shapes the venues send and on its edges.
func TestParseDecimalMatchesStrconv(t *testing.T) {
	for _, s := range []string{"0", "0.0", "38886.54", "0.0711500", "2329", "0.00000001",
		"9007199254740991", "9007199254740993", "123456789012345678901234567890", "1e5",
		"2.17e-06", "0.1234567890123456789012", "1.", ".5", "00012.50"} {
		got, ok := parseDecimal(s)
		want, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil || got != want {
			t.Errorf("parseDecimal(%q) = %v, %v; strconv %v, %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{"", "-1", "abc", "1.2.3", "NaN", "Inf", ".", "1e400"} {
		if f, ok := parseDecimal(s); ok {
			t.Errorf("parseDecimal(%q) = %v, ok; want rejection", s, f)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"38886.54", "0.0711500", "2329", "9007199254740993", "2.17e-06", "1."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDecimal(s)
		want, err := strconv.ParseFloat(s, 64)
		if ok && (err != nil || got != want) {
			t.Fatalf("parseDecimal(%q) = %v; strconv %v, %v", s, got, want, err)
		}
	})
}
