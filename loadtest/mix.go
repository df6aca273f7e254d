package loadtest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/service"
)

// The mix pattern spreads the steady rate over every venue, each through a
// loopback exchange that speaks that venue's frame format. The shares
// follow what the venues carry in practice: Binance USD-M alone is about
// as busy as the other four together, so it gets 40 % and the rest 15 %
// each (weights out of 20, interleaved by smooth weighted round-robin so no
// venue sends in clumps).
var mixShares = []struct {
	venue  event.Venue
	weight int
}{
	{event.BinanceUSDM, 8},
	{event.BinanceCOINM, 3},
	{event.Bybit, 3},
	{event.OKX, 3},
	{event.BitMEX, 3},
}

// mixInstrument is one contract a venue's frames are sent for, with the
// contract terms the venue's embedded snapshot (or the loopback Bybit
// REST listing) gives it, so the expected USD notional is known exactly.
type mixInstrument struct {
	sym     string
	pair    string // Binance COIN-M "ps"; OKX instFamily
	eth     bool   // priced from the sample's ETH rows, else BTC
	usdPer  float64
	base    float64 // base units per contract when usdPer is 0
	lot     float64 // quantity step, in the unit the frame carries
	dec     int     // decimals the quantity is written with
	inverse bool    // Bybit: sent on the inverse endpoint
}

// notional is what the venue's decoder must compute for n of the
// instrument at price.
func (m *mixInstrument) notional(n, price float64) float64 {
	if m.usdPer > 0 {
		return n * m.usdPer
	}
	return n * m.base * price
}

// mixInstruments lists each non-USD-M venue's contracts. Sizes are those
// of the embedded snapshots (COIN-M contractSize, OKX ctVal, BitMEX
// multipliers) and of the Bybit listing served by mixBybitREST.
var mixInstruments = map[event.Venue][]mixInstrument{
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
}

// mixRow is one liquidation as a venue sends it.
type mixRow struct {
	in       *mixInstrument // nil for Binance USD-M, which sends src as recorded
	src      *ingesttest.Liquidation
	side     event.Side
	price    string
	qty      string
	notional float64 // what the decoder must compute
}

// mixLane is one venue's share of the mix: its rows, cycled, and how
// many frames it sent.
type mixLane struct {
	venue  event.Venue
	weight int
	cur    int // smooth weighted round-robin credit
	rows   []mixRow
	i      int
	sent   int64
	orders uint64 // BitMEX order ids handed out
}

// mixKey identifies a liquidation the way the log shows it, for matching
// logged events with what was sent.
type mixKey struct {
	venue event.Venue
	sym   string
	side  event.Side
	price int64 // price × 10⁴, rounded
}

func mixPriceKey(p float64) int64 { return int64(math.Round(p * 1e4)) }

// mixSource builds every venue's frames from the embedded Binance sample:
// each recorded liquidation keeps its side and USD size and becomes, on
// the other venues, a BTC or ETH contract priced at one of the sample's
// own BTC or ETH liquidation prices. A venue never repeats the same
// (symbol, side, price, size) within its cycle, so two frames in one
// millisecond are never one liquidation to the pipeline's dedup.
type mixSource struct {
	lanes  []*mixLane
	total  int
	expect map[mixKey][]float64 // USD notionals the decoders must produce
}

func newMixSource() (*mixSource, error) {
	fs, err := newFrameSource()
	if err != nil {
		return nil, err
	}
	var btc, eth []string
	for i := range fs.rows {
		r := &fs.rows[i]
		switch r.Symbol {
		case "BTCUSDT":
			btc = append(btc, rowPrice(r))
		case "ETHUSDT":
			eth = append(eth, rowPrice(r))
		}
	}
	if len(btc) == 0 || len(eth) == 0 {
		return nil, fmt.Errorf("cannot build the mix: %w", errNoSample)
	}
	m := &mixSource{expect: map[mixKey][]float64{}}
	for _, s := range mixShares {
		l := &mixLane{venue: s.venue, weight: s.weight}
		m.total += s.weight
		type ident struct {
			sym, price, qty string
			side            event.Side
		}
		seen := map[ident]bool{}
		var nb, ne int
		for i := range fs.rows {
			r := &fs.rows[i]
			side := r.Side
			row := mixRow{src: r, side: side}
			if s.venue == event.BinanceUSDM {
				row.price = rowPrice(r)
				row.qty = r.Qty
				q, _ := strconv.ParseFloat(r.Qty, 64)
				p, _ := strconv.ParseFloat(row.price, 64)
				row.notional = q * p
			} else {
				ins := mixInstruments[s.venue]
				in := &ins[i%len(ins)]
				if in.eth {
					row.price, ne = eth[ne%len(eth)], ne+1
				} else {
					row.price, nb = btc[nb%len(btc)], nb+1
				}
				price, _ := strconv.ParseFloat(row.price, 64)
				usd := sampleUSD(r)
				per := in.usdPer
				if per == 0 {
					per = in.base * price
				}
				n := max(in.lot, math.Round(usd/per/in.lot)*in.lot)
				row.in = in
				row.qty = strconv.FormatFloat(n, 'f', in.dec, 64)
				n, _ = strconv.ParseFloat(row.qty, 64)
				row.notional = in.notional(n, price)
			}
			id := ident{row.symbol(), row.price, row.qty, side}
			if seen[id] {
				continue
			}
			seen[id] = true
			l.rows = append(l.rows, row)
			p, _ := strconv.ParseFloat(row.price, 64)
			k := mixKey{s.venue, row.symbol(), side, mixPriceKey(p)}
			m.expect[k] = append(m.expect[k], row.notional)
		}
		m.lanes = append(m.lanes, l)
	}
	return m, nil
}

// rowPrice is the price Binance's decoder takes: the average fill price,
// or the order price when the recording has none.
func rowPrice(r *ingesttest.Liquidation) string {
	if p, err := strconv.ParseFloat(r.AvgPrice, 64); err == nil && p > 0 {
		return r.AvgPrice
	}
	return r.Price
}

// sampleUSD is a recorded liquidation's USD size.
func sampleUSD(r *ingesttest.Liquidation) float64 {
	q, _ := strconv.ParseFloat(r.Qty, 64)
	p, _ := strconv.ParseFloat(rowPrice(r), 64)
	return q * p
}

func (r *mixRow) symbol() string {
	if r.in == nil {
		return r.src.Symbol
	}
	return r.in.sym
}

// pick returns the lane whose turn it is.
func (m *mixSource) pick() *mixLane {
	var best *mixLane
	for _, l := range m.lanes {
		l.cur += l.weight
		if best == nil || l.cur > best.cur {
			best = l
		}
	}
	best.cur -= m.total
	return best
}

// matches reports whether a logged event is one of the liquidations sent:
// same venue, symbol, side and price, and the USD notional the venue's
// contract terms give.
func (m *mixSource) matches(ev *event.Event) bool {
	if math.IsNaN(ev.Notional) {
		return false
	}
	for _, n := range m.expect[mixKey{ev.Venue, ev.Symbol.String(), ev.Side, mixPriceKey(ev.Price)}] {
		if math.Abs(ev.Notional-n) <= 1e-9*math.Max(1, n) {
			return true
		}
	}
	return false
}

// next returns the lane's next frame, freshly allocated, stamped nowMs,
// and whether it goes to Bybit's inverse endpoint.
func (l *mixLane) next(nowMs int64) ([]byte, bool) {
	r := &l.rows[l.i]
	l.i++
	if l.i == len(l.rows) {
		l.i = 0
	}
	b := make([]byte, 0, 320)
	if r.in == nil { // Binance USD-M: the recorded liquidation itself
		liq := *r.src
		liq.TimeMs = nowMs
		return ingesttest.AppendBinance(b, &liq), false
	}
	// COIN-M fills at the order price; BitMEX frames carry no time, only
	// an order id.
	liq := ingesttest.Liquidation{Symbol: r.in.sym, Pair: r.in.pair, Side: r.side, Price: r.price,
		Qty: r.qty, TimeMs: nowMs}
	if l.venue == event.BitMEX {
		l.orders++
		liq.OrderID = l.orders
	}
	return ingesttest.AppendFrame(b, l.venue, &liq), r.in.inverse
}

// mixExchanges are the loopback venues of the mix: one WebSocket exchange
// per venue (two for Bybit, linear and inverse) and Bybit's REST listing,
// which has no embedded snapshot: without it Bybit never subscribes.
type mixExchanges struct {
	ex       map[event.Venue]*ingesttest.Loopback
	bybitInv *ingesttest.Loopback
	rest     *httptest.Server
	usdmConn int
}

func newMixExchanges(usdmConns int) (*mixExchanges, error) {
	mx := &mixExchanges{ex: map[event.Venue]*ingesttest.Loopback{}, usdmConn: usdmConns}
	// Each speaks its venue's control protocol: acknowledgements,
	// keepalive answers, Binance's pings, canary pushes.
	open := func(v event.Venue, path string) (*ingesttest.Loopback, error) {
		l, err := ingesttest.NewVenue(v, ingesttest.LoopbackOptions{Path: path})
		if err != nil {
			mx.close()
			return nil, fmt.Errorf("cannot start the loopback exchange of %s: %w", v, err)
		}
		return l, nil
	}
	var err error
	for _, s := range mixShares {
		if mx.ex[s.venue], err = open(s.venue, ""); err != nil {
			return nil, err
		}
	}
	if mx.bybitInv, err = open(event.Bybit, "/v5/public/inverse"); err != nil {
		return nil, err
	}
	mx.rest = httptest.NewServer(mixBybitREST())
	return mx, nil
}

func (mx *mixExchanges) close() {
	for _, l := range mx.ex {
		l.Close()
	}
	if mx.bybitInv != nil {
		mx.bybitInv.Close()
	}
	if mx.rest != nil {
		mx.rest.Close()
	}
}

// all returns every loopback exchange with the connections it should get.
func (mx *mixExchanges) all() map[*ingesttest.Loopback]int {
	out := map[*ingesttest.Loopback]int{mx.bybitInv: 1}
	for v, l := range mx.ex {
		out[l] = 1
		if v == event.BinanceUSDM {
			out[l] = mx.usdmConn
		}
	}
	return out
}

// waitClients waits until every loopback exchange has its connections.
func (mx *mixExchanges) waitClients(ctx context.Context) error {
	for l, n := range mx.all() {
		if err := l.WaitClients(ctx, n); err != nil {
			return fmt.Errorf("%s: %w", l.Addr(), err)
		}
	}
	return nil
}

// slowKicks reports whether any exchange accepted more connections than
// it should have: a client was dropped as too slow and reconnected.
func (mx *mixExchanges) slowKicks() bool {
	for l, n := range mx.all() {
		if l.Accepted() > int64(n) {
			return true
		}
	}
	return false
}

// mixConfig enables every venue, each on its loopback exchange. Venues
// with an embedded instrument snapshot get a closed REST port so they
// fall back to it (logged); Bybit gets the loopback listing. USD-M keeps
// --conns connections, the others their production default of one.
func mixConfig(cfg *service.Config, mx *mixExchanges, usdmConns int) {
	const closedPort = "http://127.0.0.1:1"
	for v, vs := range cfg.Venues {
		l, ok := mx.ex[v]
		vs.Enabled = ok
		if !ok {
			continue
		}
		path := ingesttest.VenuePath(v)
		vs.StreamURL = l.URL(path)
		vs.RESTURL = closedPort
		vs.Conns = ingest.DefaultConns(v)
		switch v {
		case event.BinanceUSDM:
			vs.StreamURL = l.URL(path + "?streams=!forceOrder@arr")
			vs.Conns = usdmConns
		case event.BinanceCOINM:
			vs.StreamURL = l.URL(path + "?streams=!forceOrder@arr")
		case event.Bybit:
			vs.InverseStreamURL = mx.bybitInv.URL("/v5/public/inverse")
			vs.RESTURL = mx.rest.URL
		case event.BitMEX:
			vs.StreamURL = l.URL(path + "?subscribe=liquidation")
		}
	}
}

// emitMix is emit over every venue: rate frames per second in total for d,
// each frame to the loopback exchange of the venue whose turn it is.
func emitMix(ctx context.Context, mx *mixExchanges, src *mixSource, rate int, d time.Duration) int64 {
	return pace(ctx, rate, d, emitTick(rate), func(nowMs int64) {
		l := src.pick()
		f, inverse := l.next(nowMs)
		ex := mx.ex[l.venue]
		if inverse {
			ex = mx.bybitInv
		}
		ex.Broadcast(f)
		l.sent++
	})
}

// mixBybitREST serves GET /v5/market/instruments-info with the symbols
// the mix sends, one per page so the client's cursor pagination runs.
func mixBybitREST() http.Handler {
	lists := map[string][]string{}
	for _, in := range mixInstruments[event.Bybit] {
		if in.inverse {
			lists["inverse"] = append(lists["inverse"], in.sym)
		} else {
			lists["linear"] = append(lists["linear"], in.sym)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v5/market/instruments-info", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		cat := r.URL.Query().Get("category")
		syms, ok := lists[cat]
		if !ok {
			io.WriteString(w, `{"retCode":10001,"retMsg":"params error: category","result":{},"retExtInfo":{},"time":`+
				strconv.FormatInt(time.Now().UnixMilli(), 10)+`}`)
			return
		}
		page, err := strconv.Atoi(r.URL.Query().Get("cursor"))
		if err != nil || page < 0 || page >= len(syms) {
			page = 0
		}
		sym := syms[page]
		ctype := "LinearPerpetual"
		settle := "USDT"
		if cat == "inverse" {
			ctype, settle = "InversePerpetual", sym[:len(sym)-3]
		}
		next := ""
		if page+1 < len(syms) {
			next = strconv.Itoa(page + 1)
		}
		io.WriteString(w, `{"retCode":0,"retMsg":"OK","result":{"category":"`+cat+`","list":[{"symbol":"`+sym+
			`","contractType":"`+ctype+`","status":"Trading","baseCoin":"`+sym[:3]+`","quoteCoin":"`+sym[3:]+
			`","settleCoin":"`+settle+`"}],"nextPageCursor":"`+next+`"},"retExtInfo":{},"time":`+
			strconv.FormatInt(time.Now().UnixMilli(), 10)+`}`)
	})
	return mux
}

// venueCounts sums the counters of set named name{…venue="V"…} by venue.
func venueCounts(set *metrics.Set, name string) map[event.Venue]float64 {
	out := map[event.Venue]float64{}
	for _, n := range set.ListMetricNames() {
		if !strings.HasPrefix(n, name+"{") {
			continue
		}
		_, rest, ok := strings.Cut(n, `venue="`)
		if !ok {
			continue
		}
		vn, _, _ := strings.Cut(rest, `"`)
		if v, ok := event.ParseVenue(vn); ok {
			out[v] += float64(set.GetOrCreateCounter(n).Get())
		}
	}
	return out
}

// tally counts a logged event against its venue and checks it is one of
// the liquidations sent.
func (m *mixResult) tally(ev *event.Event) {
	v := m.lane(ev.Venue)
	if v == nil || !m.src.matches(ev) {
		m.mismatch++
	}
	if v == nil {
		return
	}
	v.logged++
	switch ev.Side {
	case event.Long:
		v.long++
	case event.Short:
		v.short++
	}
	if math.IsNaN(ev.Notional) {
		v.unknownUSD++
	}
}

// print writes the per-venue table of a mix run.
func (m *mixResult) print(p func(string, ...any)) {
	p("per venue         %-14s %8s %9s %8s %7s %7s %7s  %s", "venue", "sent", "decoded*", "logged", "long", "short", "no-USD", "terminal p50 / p99")
	for _, v := range m.venues {
		p("                  %-14s %8d %9.0f %8d %7d %7d %7d  %v / %v", v.venue, v.sent, v.decoded, v.logged, v.long, v.short, v.unknownUSD,
			pct(v.onBox, 50), pct(v.onBox, 99))
	}
	p("                  *decoded counts every connection's copy (USD-M runs --conns of them); logged events matching no frame sent: %d", m.mismatch)
}

// waitStreamsLive waits until every connection of every stream is up and
// subscribed (Bybit subscribes only once its REST listing has answered).
func waitStreamsLive(ctx context.Context, streams []*ingest.Stream) error {
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
					return fmt.Errorf("cannot start the mix: %s %s has %d of %d connections up", st.Spec().Venue, st.Spec().Stream, st.Live(), len(st.States()))
				}
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}
