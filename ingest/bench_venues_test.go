package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// The encoding/json baselines of the other venues: the same mapping as
// each decoder, on the frames of the venue's current format (Bybit's
// allLiquidation, BitMEX's inserts), so that both sides do the same work.

type stdBybitRow struct {
	T    int64  `json:"T"`
	Sym  string `json:"s"`
	Side string `json:"S"`
	V    string `json:"v"`
	P    string `json:"p"`
}

type stdBybit struct {
	Topic string        `json:"topic"`
	Type  string        `json:"type"`
	Ts    int64         `json:"ts"`
	Data  []stdBybitRow `json:"data"`
}

type stdOKXDetail struct {
	PosSide string `json:"posSide"`
	Side    string `json:"side"`
	BkPx    string `json:"bkPx"`
	Sz      string `json:"sz"`
	Ts      string `json:"ts"`
}

type stdOKX struct {
	Arg struct {
		Channel string `json:"channel"`
	} `json:"arg"`
	Data []struct {
		InstID  string         `json:"instId"`
		Details []stdOKXDetail `json:"details"`
	} `json:"data"`
}

type stdBitMEX struct {
	Table  string `json:"table"`
	Action string `json:"action"`
	Data   []struct {
		Symbol    string  `json:"symbol"`
		Side      string  `json:"side"`
		Price     float64 `json:"price"`
		LeavesQty float64 `json:"leavesQty"`
	} `json:"data"`
}

// stdlibVenue decodes frame of venue v with encoding/json into dst, with
// the decoder's mapping and the same instrument table.
func stdlibVenue(v event.Venue, t *Table, dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	switch v {
	case event.Bybit:
		var f stdBybit
		if err := json.Unmarshal(frame, &f); err != nil {
			return dst, err
		}
		for _, r := range f.Data {
			e := event.Event{Venue: v, Symbol: event.MakeSymbol(r.Sym), TimeMs: r.T, RecvNs: recvNs, Side: sideOf(r.Side, "Buy", "Sell")}
			n, err1 := strconv.ParseFloat(r.V, 64)
			p, err2 := strconv.ParseFloat(r.P, 64)
			if err1 != nil || err2 != nil {
				return dst, errStdlibFrame
			}
			e.Price = p
			in, ok := (&BybitDecoder{market: event.MarketUnknown}).instrument(t, r.Sym)
			applySize(&e, in, ok, n, p)
			dst = append(dst, e)
		}
	case event.OKX:
		var f stdOKX
		if err := json.Unmarshal(frame, &f); err != nil {
			return dst, err
		}
		for _, d := range f.Data {
			in, known := t.Lookup(d.InstID)
			market := in.Market
			if !known {
				market = okxMarketByName(d.InstID)
			}
			for _, x := range d.Details {
				e := event.Event{Venue: v, Market: market, Symbol: event.MakeSymbol(d.InstID), RecvNs: recvNs, Side: okxSide(x.PosSide, x.Side)}
				n, err1 := strconv.ParseFloat(x.Sz, 64)
				p, err2 := strconv.ParseFloat(x.BkPx, 64)
				ts, err3 := strconv.ParseInt(x.Ts, 10, 64)
				if err1 != nil || err2 != nil || err3 != nil {
					return dst, errStdlibFrame
				}
				e.Price, e.TimeMs = p, ts
				applySize(&e, in, known, n, p)
				dst = append(dst, e)
			}
		}
	case event.BitMEX:
		var f stdBitMEX
		if err := json.Unmarshal(frame, &f); err != nil {
			return dst, err
		}
		for _, r := range f.Data {
			e := event.Event{Venue: v, Symbol: event.MakeSymbol(r.Symbol), TimeMs: recvNs / 1e6, RecvNs: recvNs,
				Side: sideOf(r.Side, "Sell", "Buy"), Price: r.Price}
			in, ok := t.Lookup(r.Symbol)
			applySize(&e, in, ok, r.LeavesQty, r.Price)
			dst = append(dst, e)
		}
	}
	return dst, nil
}

// comparableFrames returns the frames of file both decoders handle alike.
func comparableFrames(tb testing.TB, v event.Venue, file string) [][]byte {
	var out [][]byte
	for _, f := range readLines(tb, "frames/"+file+".jsonl") {
		switch {
		case v == event.Bybit && !bytes.HasPrefix(f, []byte(`{"topic":"allLiquidation.`)):
		case v == event.BitMEX && !bytes.Contains(f, []byte(`"action":"insert"`)):
		default:
			out = append(out, f)
		}
	}
	return out
}

var stdlibVenues = []struct {
	v    event.Venue
	file string
}{{event.Bybit, "bybit"}, {event.OKX, "okx"}, {event.BitMEX, "bitmex"}}

// TestStdlibVenueBaselinesAgree keeps the baselines honest: on the frames
// they are measured on they give the decoders' events.
func TestStdlibVenueBaselinesAgree(t *testing.T) {
	for _, sv := range stdlibVenues {
		d := offlineDecoder(t, sv.v)
		inst := offlineInstruments(t, sv.v)
		for i, f := range comparableFrames(t, sv.v, sv.file) {
			a, err1 := d.Decode(nil, f, fuzzRecvNs)
			s, err2 := stdlibVenue(sv.v, inst.Load(), nil, f, fuzzRecvNs)
			if err1 != nil || err2 != nil || len(a) == 0 || len(a) != len(s) {
				t.Fatalf("%s frame %d: decoder %d (%v), stdlib %d (%v)", sv.v, i, len(a), err1, len(s), err2)
			}
			for j := range a {
				if a[j].Symbol != s[j].Symbol || a[j].Side != s[j].Side || a[j].Price != s[j].Price || a[j].TimeMs != s[j].TimeMs ||
					!(a[j].Notional == s[j].Notional || a[j].Notional != a[j].Notional && s[j].Notional != s[j].Notional) {
					t.Errorf("%s frame %d event %d: decoder %+v, stdlib %+v", sv.v, i, j, a[j], s[j])
				}
			}
		}
	}
}

// BenchmarkDecodeVsStdlib measures each decoder and its encoding/json
// baseline on the same frames (Binance's is BenchmarkDecodeStdlibJSON).
func BenchmarkDecodeVsStdlib(b *testing.B) {
	for _, sv := range stdlibVenues {
		frames := comparableFrames(b, sv.v, sv.file)
		d := offlineDecoder(b, sv.v)
		inst := offlineInstruments(b, sv.v)
		dst := make([]event.Event, 0, 64)
		b.Run(sv.v.String()+"/liqbox", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				dst, _ = d.Decode(dst[:0], frames[i%len(frames)], fuzzRecvNs)
			}
		})
		b.Run(sv.v.String()+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			t := inst.Load()
			for i := 0; i < b.N; i++ {
				dst, _ = stdlibVenue(sv.v, t, dst[:0], frames[i%len(frames)], fuzzRecvNs)
			}
		})
	}
}

// BenchmarkCanaryMatch is what canary classification costs every frame:
// Match on a liquidation frame (the path every liquidation takes) and on a
// canary frame.
func BenchmarkCanaryMatch(b *testing.B) {
	o := VenueConfig{StreamURL: "wss://x/market/stream?streams=!forceOrder@arr"}
	spec := BinanceUSDMSpec(o)
	liq := readLines(b, "frames/binance_usdm.jsonl")[0]
	liq = append([]byte(`{"stream":"!forceOrder@arr","data":`), append(liq, '}')...)
	canary := []byte(`{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1"}}`)
	for _, c := range []struct {
		name  string
		frame []byte
		want  bool
	}{{"liquidation", liq, false}, {"canary", canary, true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for i := 0; i < b.N; i++ {
				if spec.Canary.Match(c.frame) {
					n++
				}
			}
			if (n == b.N) != c.want {
				b.Fatalf("Match = %v, want %v", n == b.N, c.want)
			}
		})
	}
}
