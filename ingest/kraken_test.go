package ingest

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

func krakenTradeJSON(product, side, typ string, qty, price string) string {
	return `{"feed":"trade","product_id":"` + product + `","uid":"u1","side":"` + side + `","type":"` + typ +
		`","seq":1,"time":1700000000123,"qty":` + qty + `,"price":` + price + `}`
}

// TestKrakenFuturesRules: only type liquidation is an event; the taker
// side sell is a long; PI_ contracts are 1 USD, PF_ base units; a product
// of no known family is unknown; the snapshot's liquidations are backlog,
// its fills nothing.
func TestKrakenFuturesRules(t *testing.T) {
	d := NewKrakenFuturesDecoder(nil)
	cases := []struct {
		frame string
		n     int
		side  event.Side
		basis event.Basis
		usd   float64
	}{
		{krakenTradeJSON("PI_XBTUSD", "sell", "liquidation", "12000", "30000"), 1, event.Long, event.BasisInverse, 12000},
		{krakenTradeJSON("PF_ETHUSD", "buy", "liquidation", "2.5", "2000"), 1, event.Short, event.BasisLinear, 5000},
		{krakenTradeJSON("FI_XBTUSD_240628", "buy", "liquidation", "100", "60000"), 1, event.Short, event.BasisInverse, 100},
		{krakenTradeJSON("pf_ethusd", "buy", "liquidation", "2", "2000"), 1, event.Short, event.BasisLinear, 4000},
		{krakenTradeJSON("PV_XRPXBT", "buy", "liquidation", "100", "0.00001"), 1, event.Short, event.BasisUnknown, math.NaN()},
		{krakenTradeJSON("PF_ETHUSD", "buy", "fill", "2.5", "2000"), 0, 0, 0, 0},
		{krakenTradeJSON("PF_ETHUSD", "buy", "termination", "2.5", "2000"), 0, 0, 0, 0},
	}
	for _, c := range cases {
		got, err := d.Decode(nil, []byte(c.frame), 0)
		if err != nil || len(got) != c.n {
			t.Fatalf("%s: %d events, %v", c.frame, len(got), err)
		}
		if c.n == 0 {
			continue
		}
		e := got[0]
		if e.Side != c.side || e.Basis != c.basis || !(e.Notional == c.usd || math.IsNaN(c.usd) && math.IsNaN(e.Notional)) || e.Flags != 0 {
			t.Errorf("%s: %s %s $%v flags %d; want %s %s $%v", c.frame, e.Side, e.Basis, e.Notional, e.Flags, c.side, c.basis, c.usd)
		}
	}
	snap := `{"feed":"trade_snapshot","product_id":"PI_XBTUSD","trades":[` +
		strings.Replace(krakenTradeJSON("PI_XBTUSD", "sell", "liquidation", "500", "30000"), `"feed":"trade","product_id":"PI_XBTUSD",`, ``, 1) + `,` +
		krakenTradeJSON("PI_XBTUSD", "buy", "fill", "9", "30000") + `,` +
		krakenTradeJSON("PI_XBTUSD", "buy", "liquidation", "700", "30001") + `]}`
	got, err := d.Decode(nil, []byte(snap), 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("snapshot: %d events, %v; want its 2 liquidations", len(got), err)
	}
	for _, e := range got {
		if e.Flags&event.FlagBacklog == 0 || e.Symbol.String() != "PI_XBTUSD" {
			t.Errorf("snapshot row %+v: want backlog, PI_XBTUSD (from the snapshot when the row lacks it)", e)
		}
	}
	if _, err := d.Decode(nil, []byte(`{"feed":"book","product_id":"PI_XBTUSD","side":"buy","seq":1,"price":1,"qty":1}`), 0); err == nil {
		t.Error("a feed this box never subscribes to decoded without error")
	}
}

// TestKrakenFuturesSubscribe: product_ids come from the instrument table
// (refreshed once when empty), in pieces, only trading ones; nothing to
// subscribe to is an error the client retries.
func TestKrakenFuturesSubscribe(t *testing.T) {
	var body atomic.Value
	body.Store(`{"result":"success","instruments":[` +
		`{"symbol":"pi_xbtusd","type":"futures_inverse","tradeable":true,"contractSize":1},` +
		`{"symbol":"PF_XBTUSD","type":"flexible_futures","tradeable":true,"contractSize":1},` +
		`{"symbol":"PF_DEADUSD","type":"flexible_futures","tradeable":false,"contractSize":1},` +
		`{"symbol":"OXBT","type":"options","tradeable":true}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/derivatives/api/v3/instruments" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()
	inst, err := NewInstruments(event.KrakenFutures, VenueConfig{RESTURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	frames, err := krakenSubscribe(t.Context(), inst)
	if err != nil || len(frames) != 1 {
		t.Fatalf("%d frames, %v", len(frames), err)
	}
	if got := string(frames[0]); got != `{"event":"subscribe","feed":"trade","product_ids":["PF_XBTUSD","PI_XBTUSD"]}` {
		t.Errorf("subscribe %s", got)
	}
	if in, ok := inst.Load().Lookup("PI_XBTUSD"); !ok || in.Basis != event.BasisInverse || in.Size != 1 {
		t.Errorf("PI_XBTUSD from REST: %+v %v", in, ok)
	}
	m := map[string]Instrument{}
	for i := 0; i < 120; i++ {
		m["PF_X"+strings.Repeat("A", i%20)+string(rune('A'+i/20))+"USD"] = Instrument{Market: event.Linear, Basis: event.BasisLinear, Size: 1, Trading: true}
	}
	frames, err = krakenSubscribe(t.Context(), testInstruments(t, event.KrakenFutures, m))
	if err != nil || len(frames) != 3 {
		t.Errorf("120 products: %d frames, %v; want 3 of at most 50", len(frames), err)
	}
	body.Store(`{"result":"error","error":"apiLimitExceeded"}`)
	empty, _ := NewInstruments(event.KrakenFutures, VenueConfig{RESTURL: srv.URL})
	if _, err := krakenSubscribe(t.Context(), empty); err == nil {
		t.Error("subscribed with no products")
	}
}

// TestKrakenFuturesSnapshotNotAlerted: against a loopback Kraken that
// answers the subscription with a snapshot holding a past liquidation, and
// then a fresh one: the first is logged as backlog, the second not; the
// heartbeat canary proves the connection.
func TestKrakenFuturesSnapshotNotAlerted(t *testing.T) {
	snap := `{"feed":"trade_snapshot","product_id":"PI_XBTUSD","trades":[` + krakenTradeJSON("PI_XBTUSD", "sell", "liquidation", "500", "30000") + `]}`
	answer := ingesttest.VenueAnswer(event.KrakenFutures)
	l, err := ingesttest.NewVenue(event.KrakenFutures, ingesttest.LoopbackOptions{OnMessage: func(msg []byte) [][]byte {
		out := answer(msg)
		if strings.Contains(string(msg), `"feed":"trade"`) {
			out = append(out, []byte(snap))
		}
		return out
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	inst := testInstruments(t, event.KrakenFutures, map[string]Instrument{
		"PI_XBTUSD": {Market: event.Inverse, Basis: event.BasisInverse, Size: 1, Trading: true},
	})
	h := startHarness(t, KrakenFuturesSpec(VenueConfig{StreamURL: l.URL("/ws/v1")}, inst), StreamOptions{})
	waitFor(t, 3*time.Second, "the snapshot", func() bool { return h.count() == 1 })
	l.Broadcast([]byte(krakenTradeJSON("PI_XBTUSD", "buy", "liquidation", "800", "30100")))
	waitFor(t, 3*time.Second, "the fresh liquidation", func() bool { return h.count() == 2 })
	evs, _ := h.snapshot()
	if evs[0].Flags&event.FlagBacklog == 0 || evs[1].Flags&event.FlagBacklog != 0 || evs[1].Side != event.Short {
		t.Errorf("events %+v / %+v: want the snapshot's backlog, the fresh one not", evs[0], evs[1])
	}
	if l.CanarySent() == 0 || h.st.Live() != 1 {
		t.Errorf("heartbeat canary: %d sent, live %d", l.CanarySent(), h.st.Live())
	}
}

func FuzzDecodeKrakenFutures(f *testing.F) { fuzzDecode(f, event.KrakenFutures, "kraken_futures") }
