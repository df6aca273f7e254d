package ingest

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/liqbox/liqbox/event"
)

func BenchmarkDecodeDeribit(b *testing.B) {
	benchDecode(b, offlineDecoder(b, event.Deribit), "deribit")
}
func BenchmarkDecodeKrakenFutures(b *testing.B) {
	benchDecode(b, offlineDecoder(b, event.KrakenFutures), "kraken_futures")
}
func BenchmarkDecodeBitfinex(b *testing.B) {
	benchDecode(b, offlineDecoder(b, event.Bitfinex), "bitfinex")
}
func BenchmarkDecodeBitget(b *testing.B) { benchDecode(b, offlineDecoder(b, event.Bitget), "bitget") }
func BenchmarkDecodeAster(b *testing.B)  { benchDecode(b, offlineDecoder(b, event.Aster), "aster") }

// BenchmarkDecodeOrdinaryTrade is what most of Deribit's and Kraken's
// frames cost: their liquidations ride in the trade feed, so every trade
// of every future is read to find them.
func BenchmarkDecodeOrdinaryTrade(b *testing.B) {
	for _, c := range []struct {
		v     event.Venue
		file  string
		frame int // the line of <file>.control.jsonl that is an ordinary trade
	}{{event.Deribit, "deribit", 8}, {event.KrakenFutures, "kraken_futures", 5}} {
		f := readLines(b, "frames/"+c.file+".control.jsonl")[c.frame-1]
		d := offlineDecoder(b, c.v)
		b.Run(c.v.String(), func(b *testing.B) {
			dst := make([]event.Event, 0, 8)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				dst, _ = d.Decode(dst[:0], f, 1)
			}
			if len(dst) != 0 {
				b.Fatal("an ordinary trade decoded to a liquidation")
			}
		})
	}
}

// The encoding/json baselines of the new venues: the decoder's mapping on
// the same frames, through structs (Bitfinex's arrays through raw
// messages, as encoding/json needs for positional fields).

type stdDeribit struct {
	Method string `json:"method"`
	Params struct {
		Channel string `json:"channel"`
		Data    []struct {
			Instrument  string  `json:"instrument_name"`
			Direction   string  `json:"direction"`
			Liquidation string  `json:"liquidation"`
			Amount      float64 `json:"amount"`
			Price       float64 `json:"price"`
			Timestamp   int64   `json:"timestamp"`
		} `json:"data"`
	} `json:"params"`
}

type stdKraken struct {
	Feed    string  `json:"feed"`
	Product string  `json:"product_id"`
	Side    string  `json:"side"`
	Type    string  `json:"type"`
	Time    int64   `json:"time"`
	Qty     float64 `json:"qty"`
	Price   float64 `json:"price"`
}

type stdBitget struct {
	Arg struct {
		InstType string `json:"instType"`
		Topic    string `json:"topic"`
	} `json:"arg"`
	Data []struct {
		Symbol string `json:"symbol"`
		Side   string `json:"side"`
		Price  string `json:"price"`
		Amount string `json:"amount"`
		Ts     string `json:"ts"`
	} `json:"data"`
}

// stdlibNewVenue decodes frame of venue v with encoding/json into dst.
func stdlibNewVenue(v event.Venue, t *Table, dst []event.Event, frame []byte, recvNs int64) ([]event.Event, error) {
	switch v {
	case event.Deribit:
		var f stdDeribit
		if err := json.Unmarshal(frame, &f); err != nil {
			return dst, err
		}
		for _, tr := range f.Params.Data {
			taker, maker := event.Short, event.Long
			if tr.Direction == "sell" {
				taker, maker = event.Long, event.Short
			}
			sides := map[string][]event.Side{"T": {taker}, "M": {maker}, "MT": {taker, maker}}[tr.Liquidation]
			for _, side := range sides {
				e := event.Event{Venue: v, Side: side, Symbol: event.MakeSymbol(tr.Instrument), TimeMs: tr.Timestamp, RecvNs: recvNs, Price: tr.Price}
				in, ok := deribitInstrument(t, tr.Instrument)
				applySize(&e, in, ok, tr.Amount, tr.Price)
				dst = append(dst, e)
			}
		}
	case event.KrakenFutures:
		var f stdKraken
		if err := json.Unmarshal(frame, &f); err != nil {
			return dst, err
		}
		if f.Type == "liquidation" {
			e := event.Event{Venue: v, Side: sideOf(f.Side, "sell", "buy"), Symbol: event.MakeSymbol(f.Product), TimeMs: f.Time, RecvNs: recvNs, Price: f.Price}
			in, ok := krakenInstrument(t, f.Product)
			applySize(&e, in, ok, f.Qty, f.Price)
			dst = append(dst, e)
		}
	case event.Bitfinex:
		var f []json.RawMessage
		if err := json.Unmarshal(frame, &f); err != nil || len(f) < 2 {
			return dst, errStdlibFrame
		}
		var rows [][]json.RawMessage
		if err := json.Unmarshal(f[1], &rows); err != nil {
			return dst, err
		}
		for _, r := range rows {
			var match int
			var mts int64
			var sym string
			var amount, base float64
			var liq *float64
			if len(r) < 12 || json.Unmarshal(r[8], &match) != nil || json.Unmarshal(r[2], &mts) != nil ||
				json.Unmarshal(r[4], &sym) != nil || json.Unmarshal(r[5], &amount) != nil ||
				json.Unmarshal(r[6], &base) != nil || json.Unmarshal(r[11], &liq) != nil {
				return dst, errStdlibFrame
			}
			if match != 0 {
				continue
			}
			e := event.Event{Venue: v, Side: event.Long, Symbol: event.MakeSymbol(strings.TrimPrefix(sym, "t")), TimeMs: mts, RecvNs: recvNs, Price: base}
			if amount < 0 {
				e.Side = event.Short
			}
			if liq != nil && *liq > 0 {
				e.Price = *liq
			}
			ok := strings.HasSuffix(sym, ":USTF0")
			if ok {
				e.Market = event.Linear
			}
			applySize(&e, linearBase, ok, math.Abs(amount), e.Price)
			dst = append(dst, e)
		}
	case event.Bitget:
		var f stdBitget
		if err := json.Unmarshal(frame, &f); err != nil {
			return dst, err
		}
		for _, r := range f.Data {
			amount, err1 := strconv.ParseFloat(r.Amount, 64)
			p, err2 := strconv.ParseFloat(r.Price, 64)
			ts, err3 := strconv.ParseInt(r.Ts, 10, 64)
			if err1 != nil || err2 != nil || err3 != nil {
				return dst, errStdlibFrame
			}
			e := event.Event{Venue: v, Side: sideOf(r.Side, "buy", "sell"), Symbol: event.MakeSymbol(r.Symbol), TimeMs: ts, RecvNs: recvNs, Price: p}
			applySize(&e, bitgetQuoteValue, true, amount, p)
			if f.Arg.InstType == "coin-futures" {
				e.Market = event.Inverse
			} else {
				e.Market, e.Basis = event.Linear, event.BasisLinear
			}
			dst = append(dst, e)
		}
	case event.Aster:
		n0 := len(dst)
		dst, err := stdlibDecode(dst, frame, recvNs)
		for k := n0; k < len(dst); k++ {
			dst[k].Venue = v
		}
		return dst, err
	}
	return dst, nil
}

var newStdlibVenues = []struct {
	v    event.Venue
	file string
}{{event.Deribit, "deribit"}, {event.KrakenFutures, "kraken_futures"}, {event.Bitfinex, "bitfinex"},
	{event.Bitget, "bitget"}, {event.Aster, "aster"}}

// TestStdlibNewVenueBaselinesAgree keeps the baselines honest: on the
// frames they are measured on they give the decoders' events.
func TestStdlibNewVenueBaselinesAgree(t *testing.T) {
	for _, sv := range newStdlibVenues {
		d := offlineDecoder(t, sv.v)
		inst := offlineInstruments(t, sv.v)
		for i, f := range readLines(t, "frames/"+sv.file+".jsonl") {
			a, err1 := d.Decode(nil, f, fuzzRecvNs)
			s, err2 := stdlibNewVenue(sv.v, inst.Load(), nil, f, fuzzRecvNs)
			if err1 != nil || err2 != nil || len(a) != len(s) {
				t.Fatalf("%s frame %d: decoder %d (%v), stdlib %d (%v)", sv.v, i, len(a), err1, len(s), err2)
			}
			for j := range a {
				if a[j] != s[j] {
					t.Errorf("%s frame %d event %d: decoder %+v, stdlib %+v", sv.v, i, j, a[j], s[j])
				}
			}
		}
	}
}

// BenchmarkDecodeNewVenuesVsStdlib measures each new decoder and its
// encoding/json baseline on the same frames.
func BenchmarkDecodeNewVenuesVsStdlib(b *testing.B) {
	for _, sv := range newStdlibVenues {
		frames := readLines(b, "frames/"+sv.file+".jsonl")
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
				dst, _ = stdlibNewVenue(sv.v, t, dst[:0], frames[i%len(frames)], fuzzRecvNs)
			}
		})
	}
}
