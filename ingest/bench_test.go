package ingest

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// benchDecode decodes every frame of file in turn, reusing dst, and reports
// the cost per frame.
func benchDecode(b *testing.B, d Decoder, file string) {
	frames := readLines(b, "frames/"+file+".jsonl")
	dst := make([]event.Event, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		dst, err = d.Decode(dst[:0], frames[i%len(frames)], 1)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinanceUSDM(b *testing.B) {
	benchDecode(b, NewBinanceUSDMDecoder(), "binance_usdm")
}

func BenchmarkDecodeBinanceCOINM(b *testing.B) {
	benchDecode(b, offlineDecoder(b, event.BinanceCOINM), "binance_coinm")
}

func BenchmarkDecodeBybit(b *testing.B) {
	benchDecode(b, offlineDecoder(b, event.Bybit), "bybit")
}

func BenchmarkDecodeOKX(b *testing.B) {
	benchDecode(b, offlineDecoder(b, event.OKX), "okx")
}

func BenchmarkDecodeBitMEX(b *testing.B) {
	benchDecode(b, offlineDecoder(b, event.BitMEX), "bitmex")
}

// stdlibOrder holds exactly the fields of a forceOrder's "o" that the
// decoder uses. encoding/json matches keys case-insensitively, so "s" and
// "S" are both tagged: an exact match wins over a folded one.
type stdlibOrder struct {
	Sym   string `json:"s"`
	Side  string `json:"S"`
	Qty   string `json:"q"`
	Price string `json:"p"`
	Avg   string `json:"ap"`
	Time  int64  `json:"T"`
}

// stdlibForceOrder is the raw payload. "e" and "E" are both tagged for the
// same reason as "s"/"S": untagged, "E" (a number) would fold onto "e".
type stdlibForceOrder struct {
	Type  string      `json:"e"`
	Event int64       `json:"E"`
	O     stdlibOrder `json:"o"`
}

// stdlibFrame accepts the raw and the combined envelope in one struct.
type stdlibFrame struct {
	stdlibForceOrder
	Stream string            `json:"stream"`
	Data   *stdlibForceOrder `json:"data"`
}

var errStdlibFrame = errors.New("not a forceOrder")

// stdlibDecode is the baseline: the same mapping as BinanceDecoder (side,
// q, ap or p, q × price, o.T) through encoding/json.
func stdlibDecode(dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	var f stdlibFrame
	if err := json.Unmarshal(frame, &f); err != nil {
		return dst, err
	}
	p := &f.stdlibForceOrder
	if f.Data != nil {
		p = f.Data
	}
	if p.Type != "forceOrder" {
		return dst, errStdlibFrame
	}
	e := event.Event{Venue: event.BinanceUSDM, Market: event.Linear, Basis: event.BasisLinear,
		Symbol: event.MakeSymbol(p.O.Sym), TimeMs: p.O.Time, RecvNs: recvNs}
	switch p.O.Side {
	case "SELL":
		e.Side = event.Long
	case "BUY":
		e.Side = event.Short
	default:
		return dst, errStdlibFrame
	}
	q, err := strconv.ParseFloat(p.O.Qty, 64)
	if err != nil {
		return dst, err
	}
	price, err := strconv.ParseFloat(p.O.Avg, 64)
	if err != nil || price == 0 {
		if price, err = strconv.ParseFloat(p.O.Price, 64); err != nil {
			return dst, err
		}
	}
	e.Qty, e.Price, e.Notional = q, price, q*price
	return append(dst, e), nil
}

func BenchmarkDecodeStdlibJSON(b *testing.B) {
	frames := readLines(b, "frames/binance_usdm.jsonl")
	dst := make([]event.Event, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		dst, err = stdlibDecode(dst[:0], frames[i%len(frames)], 1)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestStdlibBaselineAgrees keeps the benchmark honest: the baseline must
// produce the same events as the decoder it is compared with.
func TestStdlibBaselineAgrees(t *testing.T) {
	d := NewBinanceUSDMDecoder()
	for i, f := range readLines(t, "frames/binance_usdm.jsonl") {
		a, err1 := d.Decode(nil, f, 7)
		s, err2 := stdlibDecode(nil, f, 7)
		if err1 != nil || err2 != nil || len(a) != 1 || len(s) != 1 || a[0] != s[0] {
			t.Errorf("line %d: decoder %+v (%v), stdlib %+v (%v)", i+1, a, err1, s, err2)
		}
	}
}

// TestDecodeAllocs pins the zero-allocation contract for every venue.
func TestDecodeAllocs(t *testing.T) {
	for _, gv := range goldenVenues {
		d := offlineDecoder(t, gv.venue)
		frames := readLines(t, "frames/"+gv.file+".jsonl")
		frames = append(frames, readLines(t, "frames/"+gv.file+".control.jsonl")...)
		dst := make([]event.Event, 0, 64)
		for i, f := range frames {
			if n := testing.AllocsPerRun(20, func() { dst, _ = d.Decode(dst[:0], f, 1) }); n != 0 {
				t.Errorf("%s frame %d: %v allocs per Decode", gv.file, i+1, n)
			}
		}
	}
}
