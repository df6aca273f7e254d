package demo

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"sort"
	"strconv"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/service"
)

// This file is the whole market on loopback, for the demo and the load
// test's mix alike: which venue plays which share of the sample, how a
// recorded Binance USD-M liquidation becomes another venue's liquidation,
// and the loopback exchanges that send it in that venue's frame format.
// It lives beside the sample it translates; the load test imports it.

// Share is a venue's share of the sample: Weight turns out of the sum of
// every share's.
type Share struct {
	Venue  event.Venue
	Weight int
}

// Shares returns every venue's share of the whole market. They follow the
// order of the liquidation volumes that public aggregators rank the venues
// by (Binance USD-M first and about as busy as the next two together, then
// Bybit and OKX, then the rest), rounded to weights out of 40, so Binance
// USD-M carries 30 % of the events and the smallest venues 2.5 % each: a
// test of a few hundred events still sees every venue's both sides. The
// figures are an order of magnitude, not a measurement of this box.
func Shares() []Share {
	return []Share{
		{event.BinanceUSDM, 12},
		{event.Bybit, 6},
		{event.OKX, 5},
		{event.BinanceCOINM, 3},
		{event.Gate, 3},
		{event.HTX, 2},
		{event.Bitget, 2},
		{event.BitMEX, 2},
		{event.Aster, 2},
		{event.Deribit, 1},
		{event.KrakenFutures, 1},
		{event.Bitfinex, 1},
	}
}

// Schedule hands out the venues' turns in their Shares, interleaved by
// smooth weighted round-robin so no venue sends in clumps. The same
// sequence every time: a test can replay it. Not safe for concurrent use.
type Schedule struct {
	shares []Share
	cur    []int // credit per share
	total  int
}

// NewSchedule starts the sequence of turns.
func NewSchedule() *Schedule {
	s := &Schedule{shares: Shares()}
	s.cur = make([]int, len(s.shares))
	for _, sh := range s.shares {
		s.total += sh.Weight
	}
	return s
}

// Next returns the venue whose turn it is.
func (s *Schedule) Next() event.Venue {
	best := -1
	for i, sh := range s.shares {
		s.cur[i] += sh.Weight
		if best < 0 || s.cur[i] > s.cur[best] {
			best = i
		}
	}
	s.cur[best] -= s.total
	return s.shares[best].Venue
}

// instrument is one contract a venue's liquidations are sent for, with
// the contract terms its decoder finds for it (in an embedded snapshot,
// the loopback REST listing or the venue's naming rule), so the USD
// notional it must compute is known exactly.
type instrument struct {
	sym  string
	pair string // Binance COIN-M "ps"; OKX instFamily
	eth  bool   // priced from the sample's ETH rows, else BTC
	// usdPer is the USD of one unit of Qty (inverse contracts, quote
	// amounts); 0: base is the base coin of one unit.
	usdPer float64
	base   float64
	lot    float64 // quantity step, in the unit the frame carries
	dec    int     // decimals the quantity is written with
	// inverse: sent on the venue's inverse endpoint (Bybit inverse, HTX
	// coin-margined).
	inverse bool
	// turnover: HTX USDT-margined, whose rows carry the base amount and
	// the USDT turnover beside the contract count (the base amount with
	// bdec decimals); USD is the turnover.
	turnover bool
	bdec     int
}

// instruments lists each venue's contracts but Binance USD-M's, which
// plays the recorded rows themselves. Every one has a size liqbox knows
// without a live venue: COIN-M contractSize, OKX ctVal, BitMEX
// multipliers, HTX contract_size and Gate quanto_multiplier come from the
// embedded snapshots (Gate's holds BTC_USDT alone, so Gate plays its
// USDT-settled endpoint only); Bybit and Kraken Futures from the loopback
// REST listing (they have no snapshot, and subscribe only once it
// answered); Deribit's inverse perpetuals and Kraken's PI_/PF_ by the
// venues' naming rules; Bitfinex, Bitget and Aster need no metadata.
var instruments = map[event.Venue][]instrument{
	event.BinanceCOINM: {
		{sym: "BTCUSD_PERP", pair: "BTCUSD", usdPer: 100, lot: 1},
		{sym: "ETHUSD_PERP", pair: "ETHUSD", eth: true, usdPer: 10, lot: 1},
	},
	event.Bybit: {
		{sym: "BTCUSDT", base: 1, lot: 0.001, dec: 3},
		{sym: "ETHUSDT", eth: true, base: 1, lot: 0.01, dec: 2},
		{sym: "BTCUSD", usdPer: 1, lot: 1, inverse: true},
	},
	event.OKX: {
		{sym: "BTC-USDT-SWAP", pair: "BTC-USDT", base: 0.01, lot: 0.01, dec: 2},
		{sym: "ETH-USDT-SWAP", pair: "ETH-USDT", eth: true, base: 0.1, lot: 0.01, dec: 2},
	},
	event.BitMEX: {
		{sym: "XBTUSD", usdPer: 1, lot: 100},
		{sym: "XBTUSDT", base: 1e-6, lot: 1000},
	},
	event.Deribit: { // inverse: amount in USD, BTC in steps of 10
		{sym: "BTC-PERPETUAL", usdPer: 1, lot: 10},
		{sym: "ETH-PERPETUAL", eth: true, usdPer: 1, lot: 1},
	},
	event.KrakenFutures: {
		{sym: "PF_XBTUSD", base: 1, lot: 0.0001, dec: 4},
		{sym: "PI_XBTUSD", usdPer: 1, lot: 1},
		{sym: "PF_ETHUSD", eth: true, base: 1, lot: 0.001, dec: 3},
	},
	event.HTX: {
		{sym: "BTC-USDT", base: 0.001, lot: 1, turnover: true, bdec: 3},
		{sym: "BTC-USD", usdPer: 100, lot: 1, inverse: true},
		{sym: "ETH-USDT", eth: true, base: 0.01, lot: 1, turnover: true, bdec: 2},
		{sym: "ETH-USD", eth: true, usdPer: 10, lot: 1, inverse: true},
	},
	event.Bitfinex: {
		{sym: "BTCF0:USTF0", base: 1, lot: 0.0001, dec: 4},
		{sym: "ETHF0:USTF0", eth: true, base: 1, lot: 0.001, dec: 3},
	},
	event.Gate: {
		{sym: "BTC_USDT", base: 0.0001, lot: 1},
	},
	event.Bitget: { // amount is the quote value
		{sym: "BTCUSDT", usdPer: 1, lot: 0.01, dec: 2},
		{sym: "ETHUSDT", eth: true, usdPer: 1, lot: 0.01, dec: 2},
	},
	event.Aster: {
		{sym: "BTCUSDT", base: 1, lot: 0.001, dec: 3},
		{sym: "ETHUSDT", eth: true, base: 1, lot: 0.01, dec: 2},
	},
}

// listings is what the loopback REST server lists: the contracts of the
// venues above without a snapshot.
func listings() []ingesttest.Listing {
	var out []ingesttest.Listing
	for _, v := range []event.Venue{event.Bybit, event.KrakenFutures} {
		for _, in := range instruments[v] {
			out = append(out, ingesttest.Listing{Venue: v, Symbol: in.sym, Inverse: in.inverse})
		}
	}
	return out
}

// Liquidation is one sample row as a venue sends it.
type Liquidation struct {
	Venue event.Venue
	// Liq is the row in the venue's terms, for ingesttest.AppendFrame; its
	// time and order id are stamped when it is sent.
	Liq     ingesttest.Liquidation
	Inverse bool    // sent on the venue's inverse endpoint
	Price   float64 // the price the venue's decoder must read
	USD     float64 // the USD notional the venue's decoder must compute
}

// Market turns the sample's rows into every venue's liquidations: a row
// keeps its side and USD size and becomes, on any venue but Binance USD-M,
// a BTC or ETH contract of that venue priced at the sample's last BTC or
// ETH liquidation price at or before the row's time (the market of that
// moment, not another year's), its size rounded to the contract's step.
type Market struct {
	btc, eth []pricePoint // in time order
}

// pricePoint is a recorded liquidation's price at its exchange time.
type pricePoint struct {
	ms    int64
	price string
}

// NewMarket prices the venues' contracts from rows (BTCUSDT and ETHUSDT
// ones, as Binance's decoder prices them).
func NewMarket(rows []ingesttest.Liquidation) (*Market, error) {
	m := &Market{}
	for i := range rows {
		pt := pricePoint{rows[i].TimeMs, RowPrice(&rows[i])}
		switch rows[i].Symbol {
		case "BTCUSDT":
			m.btc = append(m.btc, pt)
		case "ETHUSDT":
			m.eth = append(m.eth, pt)
		}
	}
	if len(m.btc) == 0 || len(m.eth) == 0 {
		return nil, fmt.Errorf("cannot price the market: the sample has no BTCUSDT or no ETHUSDT liquidation")
	}
	for _, pts := range [][]pricePoint{m.btc, m.eth} {
		sort.SliceStable(pts, func(a, b int) bool { return pts[a].ms < pts[b].ms })
	}
	return m, nil
}

// priceAt is the last price of pts at or before ms (the first one before
// them all).
func priceAt(pts []pricePoint, ms int64) string {
	j := sort.Search(len(pts), func(k int) bool { return pts[k].ms > ms })
	return pts[max(j-1, 0)].price
}

// Translate returns row r, the i-th of its sequence, as venue v sends it:
// Binance USD-M the row itself; the others one of their contracts, chosen
// by i, so a sequence spreads over every contract.
func (m *Market) Translate(v event.Venue, r *ingesttest.Liquidation, i int) Liquidation {
	if v == event.BinanceUSDM {
		p, _ := strconv.ParseFloat(RowPrice(r), 64)
		q, _ := strconv.ParseFloat(r.Qty, 64)
		return Liquidation{Venue: v, Liq: *r, Price: p, USD: q * p}
	}
	ins := instruments[v]
	in := &ins[i%len(ins)]
	pts := m.btc
	if in.eth {
		pts = m.eth
	}
	price := priceAt(pts, r.TimeMs)
	p, _ := strconv.ParseFloat(price, 64)
	per := in.usdPer
	if per == 0 {
		per = in.base * p
	}
	n := max(in.lot, math.Round(SampleUSD(r)/per/in.lot)*in.lot)
	qty := strconv.FormatFloat(n, 'f', in.dec, 64)
	n, _ = strconv.ParseFloat(qty, 64)
	out := Liquidation{Venue: v, Inverse: in.inverse, Price: p,
		Liq: ingesttest.Liquidation{Symbol: in.sym, Pair: in.pair, Side: r.Side, Price: price, Qty: qty}}
	switch {
	case in.turnover:
		out.Liq.Base = strconv.FormatFloat(n*in.base, 'f', in.bdec, 64)
		b, _ := strconv.ParseFloat(out.Liq.Base, 64)
		out.Liq.Quote = strconv.FormatFloat(b*p, 'f', 4, 64)
		out.USD, _ = strconv.ParseFloat(out.Liq.Quote, 64)
	case in.usdPer > 0:
		out.USD = n * in.usdPer
	default:
		out.USD = n * in.base * p
	}
	return out
}

// RowPrice is the price Binance's decoder takes from a recorded row: the
// average fill price, or the order price when the recording has none.
func RowPrice(r *ingesttest.Liquidation) string {
	if p, err := strconv.ParseFloat(r.AvgPrice, 64); err == nil && p > 0 {
		return r.AvgPrice
	}
	return r.Price
}

// SampleUSD is a recorded row's USD size.
func SampleUSD(r *ingesttest.Liquidation) float64 {
	q, _ := strconv.ParseFloat(r.Qty, 64)
	p, _ := strconv.ParseFloat(RowPrice(r), 64)
	return q * p
}

// Exchanges are the loopback venues of the whole market: one WebSocket
// exchange per endpoint of every venue (Bybit, HTX and Gate have two,
// linear and inverse), each speaking its venue's control protocol
// (acknowledgements, keepalive answers, pings, heartbeats, canary pushes)
// and sent liquidations in its frame format, and one REST server with the
// listings of Bybit and Kraken Futures. Send is for one goroutine.
type Exchanges struct {
	linear, inverse map[event.Venue]*ingesttest.Loopback
	rest            *httptest.Server
	usdmConns       int
	ids             map[event.Venue]uint64 // order, trade and position ids handed out
}

// StartExchanges starts every venue's loopback exchanges, expecting
// usdmConns connections to Binance USD-M's (0: none) and one to each
// other endpoint.
func StartExchanges(usdmConns int) (*Exchanges, error) {
	x := &Exchanges{linear: map[event.Venue]*ingesttest.Loopback{}, inverse: map[event.Venue]*ingesttest.Loopback{},
		usdmConns: usdmConns, ids: map[event.Venue]uint64{}}
	for _, v := range event.Venues() {
		l, err := ingesttest.NewVenue(v, ingesttest.LoopbackOptions{})
		if err != nil {
			x.Close()
			return nil, fmt.Errorf("cannot start the loopback exchange of %s: %w", v, err)
		}
		x.linear[v] = l
		if p := ingesttest.InversePath(v); p != "" {
			if l, err = ingesttest.NewVenue(v, ingesttest.LoopbackOptions{Path: p}); err != nil {
				x.Close()
				return nil, fmt.Errorf("cannot start the inverse loopback exchange of %s: %w", v, err)
			}
			x.inverse[v] = l
		}
	}
	x.rest = httptest.NewServer(ingesttest.InstrumentsHandler(listings()))
	return x, nil
}

// Exchange returns venue v's loopback exchange (its linear endpoint).
func (x *Exchanges) Exchange(v event.Venue) *ingesttest.Loopback { return x.linear[v] }

// Configure enables every venue in cfg, each on its loopback exchanges.
// Venues with an embedded instrument snapshot read it alone (rest_url
// off); Bybit and Kraken Futures get the loopback listing; Deribit has no
// snapshot and follows its naming rule. Binance
// USD-M keeps the usdmConns connections (0: disabled), the others their
// production default.
func (x *Exchanges) Configure(cfg *service.Config) {
	for v, vs := range cfg.Venues {
		l, ok := x.linear[v]
		vs.Enabled = ok
		if !ok {
			continue
		}
		path := ingesttest.VenuePath(v)
		vs.StreamURL = l.URL(path)
		if inv := x.inverse[v]; inv != nil {
			vs.InverseStreamURL = inv.URL(ingesttest.InversePath(v))
		}
		vs.RESTURL = ingest.RESTOff
		vs.Conns = ingest.DefaultConns(v)
		switch v {
		case event.BinanceUSDM:
			vs.StreamURL = l.URL(path + "?streams=!forceOrder@arr")
			vs.Conns = max(x.usdmConns, 1)
			vs.Enabled = x.usdmConns > 0
		case event.BinanceCOINM, event.Aster:
			vs.StreamURL = l.URL(path + "?streams=!forceOrder@arr")
		case event.Bybit, event.KrakenFutures:
			vs.RESTURL = x.rest.URL
		case event.BitMEX:
			vs.StreamURL = l.URL(path + "?subscribe=liquidation")
		}
	}
}

// Send sends liq to its venue's exchange, stamped with the exchange time
// nowMs and the venue's next order id (BitMEX orderID, Deribit trade_id,
// Kraken uid, Bitfinex position id), in a frame of its own (the exchange
// keeps it until every client has it).
func (x *Exchanges) Send(liq *Liquidation, nowMs int64) {
	l := liq.Liq
	l.TimeMs = nowMs
	x.ids[liq.Venue]++
	l.OrderID = x.ids[liq.Venue]
	ex := x.linear[liq.Venue]
	if liq.Inverse {
		ex = x.inverse[liq.Venue]
	}
	ex.Broadcast(ingesttest.AppendFrame(make([]byte, 0, 384), liq.Venue, &l))
}

// all returns every loopback exchange with the connections it should get.
func (x *Exchanges) all() map[*ingesttest.Loopback]int {
	out := map[*ingesttest.Loopback]int{}
	for v, l := range x.linear {
		out[l] = 1
		if v == event.BinanceUSDM {
			out[l] = x.usdmConns
		}
	}
	for _, l := range x.inverse {
		out[l] = 1
	}
	return out
}

// WaitClients waits until every loopback exchange has its connections.
func (x *Exchanges) WaitClients(ctx context.Context) error {
	for l, n := range x.all() {
		if err := l.WaitClients(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", l.Addr(), err)
		}
	}
	return nil
}

// SlowKicks reports whether any exchange accepted more connections than
// it should have: a client was dropped as too slow and reconnected.
func (x *Exchanges) SlowKicks() bool {
	for l, n := range x.all() {
		if l.Accepted() > int64(n) {
			return true
		}
	}
	return false
}

// Close stops every exchange and the REST server.
func (x *Exchanges) Close() {
	for _, l := range x.linear {
		l.Close()
	}
	for _, l := range x.inverse {
		l.Close()
	}
	if x.rest != nil {
		x.rest.Close()
	}
}

// WaitStreamsLive waits until every connection of every stream is up and
// subscribed (Bybit and Kraken Futures subscribe only once their REST
// listing has answered).
func WaitStreamsLive(ctx context.Context, streams []*ingest.Stream) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		up := true
		for _, st := range streams {
			if st.Live() < len(st.States()) {
				up = false
			}
		}
		if up {
			return nil
		}
		select {
		case <-ctx.Done():
			for _, st := range streams {
				if st.Live() < len(st.States()) {
					return fmt.Errorf("cannot start the market: %s %s has %d of %d connections up", st.Spec().Venue, st.Spec().Stream, st.Live(), len(st.States()))
				}
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
