package ingesttest_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// rtInstrument is a contract with the terms the embedded snapshots give it
// (Bybit's come from its symbol naming), written out here by hand so the
// expected USD does not come from the decoder under test.
type rtInstrument struct {
	venue  event.Venue
	sym    string
	usdPer float64 // USD per contract (inverse), or
	base   float64 // base units per contract (linear)
	basis  event.Basis
	market event.Market
}

// htxOwnFigures: HTX's USDT-margined rows carry the venue's own base
// amount (written here as the contract count, as if one base unit a
// contract: the decoder never relates the two) and, on BTC-USDT, its USDT
// turnover; ETH-USDT goes without it, so USD is amount × price.
func htxOwnFigures(in rtInstrument) (amount, turnover bool) {
	if in.venue != event.HTX || in.market != event.Linear {
		return false, false
	}
	return true, in.sym == "BTC-USDT"
}

var rtInstruments = []rtInstrument{
	{event.BinanceUSDM, "BTCUSDT", 0, 1, event.BasisLinear, event.Linear},
	{event.BinanceCOINM, "BTCUSD_PERP", 100, 0, event.BasisContractSize, event.Inverse},
	{event.BinanceCOINM, "ETHUSD_PERP", 10, 0, event.BasisContractSize, event.Inverse},
	{event.Bybit, "BTCUSDT", 0, 1, event.BasisLinear, event.Linear},
	{event.Bybit, "BTCUSD", 1, 0, event.BasisInverse, event.Inverse},
	{event.OKX, "BTC-USDT-SWAP", 0, 0.01, event.BasisContractValue, event.Linear},
	{event.OKX, "ETH-USDT-SWAP", 0, 0.1, event.BasisContractValue, event.Linear},
	{event.BitMEX, "XBTUSD", 1, 0, event.BasisInverse, event.Inverse},
	{event.BitMEX, "XBTUSDT", 0, 1e-6, event.BasisContractValue, event.Linear},
	// Deribit's inverse amount is USD (its naming rule offline); Kraken's
	// PI_ contracts are 1 USD, PF_ base units; Bitfinex's USTF0 perpetuals
	// are base units; Bitget's amount is the quote value of a linear
	// contract; Aster's frames are Binance USD-M's.
	{event.Deribit, "BTC-PERPETUAL", 1, 0, event.BasisInverse, event.Inverse},
	{event.KrakenFutures, "PI_XBTUSD", 1, 0, event.BasisInverse, event.Inverse},
	{event.KrakenFutures, "PF_XBTUSD", 0, 1, event.BasisLinear, event.Linear},
	{event.Bitfinex, "BTCF0:USTF0", 0, 1, event.BasisLinear, event.Linear},
	{event.Bitget, "BTCUSDT", 1, 0, event.BasisLinear, event.Linear},
	{event.Aster, "BTCUSDT", 0, 1, event.BasisLinear, event.Linear},
	{event.HTX, "BTC-USD", 100, 0, event.BasisContractSize, event.Inverse},
	{event.HTX, "ETH-USDT", 0, 1, event.BasisLinear, event.Linear},
	{event.HTX, "BTC-USDT", 0, 1, event.BasisLinear, event.Linear},
	{event.Gate, "BTC_USDT", 0, 0.0001, event.BasisContractValue, event.Linear},
}

const rtRecvNs = int64(1_800_000_000_000_000_000) // 2027-01-15

// decimal writes m / 10^d as the venues do ("650001.2", "0.003").
func decimal(m uint64, d uint8) string {
	s := strconv.FormatUint(m, 10)
	k := int(d % 12)
	if k == 0 {
		return s
	}
	if len(s) <= k {
		s = strings.Repeat("0", k-len(s)+1) + s
	}
	return s[:len(s)-k] + "." + s[len(s)-k:]
}

// FuzzRoundTrip encodes a liquidation with a venue's encoder and decodes it
// with that venue's decoder: a liquidation within the documented bounds
// comes back as itself (symbol, side, price, time, and the USD and base
// size its contract terms give), one outside them comes back as an error
// and no event.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(0), true, uint64(390210), uint8(1), uint64(288), uint8(3), int64(1650898329196))
	f.Add(uint8(1), false, uint64(94965), uint8(1), uint64(3), uint8(0), int64(1594622954021))
	f.Add(uint8(4), true, uint64(4517100), uint8(2), uint64(2329), uint8(0), int64(1632123949005))
	f.Add(uint8(5), false, uint64(826557), uint8(1), uint64(2), uint8(0), int64(1723904954052))
	f.Add(uint8(7), true, uint64(900005), uint8(1), uint64(100), uint8(0), int64(0))
	f.Add(uint8(8), true, uint64(0), uint8(0), uint64(0), uint8(0), int64(0))
	f.Add(uint8(0), true, uint64(1), uint8(0), uint64(math.MaxUint64), uint8(0), int64(1650898329196))
	for w := uint8(9); w < 15; w++ { // the venues after the first five
		f.Add(w, w%2 == 0, uint64(650001), uint8(1), uint64(2500), uint8(w%4), int64(1700000000123))
	}
	f.Add(uint8(15), false, uint64(171029), uint8(1), uint64(173), uint8(0), int64(1606381842485))
	f.Add(uint8(16), false, uint64(244626), uint8(2), uint64(5), uint8(0), int64(1789670297212))
	f.Add(uint8(17), true, uint64(514417), uint8(1), uint64(479), uint8(3), int64(1639122193172))
	f.Add(uint8(18), true, uint64(2151), uint8(1), uint64(1245), uint8(1), int64(1541486601123))
	f.Add(uint8(18), false, uint64(2151), uint8(1), uint64(1245), uint8(1), int64(1541486601))
	decoders := map[event.Venue]ingest.Decoder{}
	for _, v := range []event.Venue{event.BinanceUSDM, event.BinanceCOINM, event.Bybit, event.OKX, event.BitMEX,
		event.Deribit, event.KrakenFutures, event.HTX, event.Bitfinex, event.Gate, event.Bitget, event.Aster} {
		d, err := ingest.NewOfflineDecoder(v, embed.Instruments)
		if err != nil {
			f.Fatal(err)
		}
		decoders[v] = d
	}
	f.Fuzz(func(t *testing.T, which uint8, long bool, pm uint64, pd uint8, qm uint64, qd uint8, timeMs int64) {
		in := rtInstruments[int(which)%len(rtInstruments)]
		side := event.Short
		if long {
			side = event.Long
		}
		price, qty := decimal(pm, pd), decimal(qm, qd)
		liq := ingesttest.Liquidation{Symbol: in.sym, Side: side, Price: price, Qty: qty, TimeMs: timeMs, OrderID: pm ^ qm}
		p, _ := strconv.ParseFloat(price, 64)
		n, _ := strconv.ParseFloat(qty, 64)
		if amount, turnover := htxOwnFigures(in); amount {
			liq.Base = qty
			if turnover {
				liq.Quote = strconv.FormatFloat(n*p, 'g', -1, 64)
			}
		}
		frame := ingesttest.AppendFrame(nil, in.venue, &liq)
		got, err := decoders[in.venue].Decode(nil, frame, rtRecvNs)

		wantTime := timeMs
		if in.venue == event.BitMEX {
			wantTime = rtRecvNs / 1e6 // BitMEX rows carry no time
		}
		if in.venue == event.Gate && timeMs >= 0 && timeMs < 1e12 {
			wantTime = timeMs * 1000 // a row time below 10^12 is in seconds
		}
		var wantQty, wantUSD float64
		if in.usdPer > 0 {
			wantUSD = n * in.usdPer
			wantQty = wantUSD / p
		} else {
			wantQty = n * in.base
			wantUSD = wantQty * p
		}
		valid := p >= ingest.MinPrice && p <= ingest.MaxPrice && n > 0 && n <= ingest.MaxSize &&
			wantTime >= ingest.MinTimeMs && wantTime <= rtRecvNs/1e6+ingest.MaxTimeAheadMs &&
			wantUSD > 0 && wantUSD <= ingest.MaxNotional && wantQty > 0 && !math.IsInf(wantQty, 0)
		if !valid {
			if err == nil || len(got) != 0 {
				t.Fatalf("%s %s p=%s q=%s t=%d: got %+v, %v; want refused", in.venue, in.sym, price, qty, timeMs, got, err)
			}
			return
		}
		if err != nil || len(got) != 1 {
			t.Fatalf("%s %s: %s: %d events, %v", in.venue, in.sym, frame, len(got), err)
		}
		e := got[0]
		if e.Venue != in.venue || e.Symbol.String() != in.sym || e.Side != side || e.Price != p || e.TimeMs != wantTime ||
			e.Basis != in.basis || e.Market != in.market || e.Qty != wantQty || e.Notional != wantUSD || e.RecvNs != rtRecvNs {
			t.Fatalf("%s: got %+v, want %s %s p=%v qty=%v usd=%v t=%d %s", frame, e, in.sym, side, p, wantQty, wantUSD, wantTime, in.basis)
		}
	})
}
