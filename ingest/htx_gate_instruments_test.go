package ingest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	liqembed "github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
)

// htxGateREST serves HTX's and Gate's contract endpoints on loopback:
// HTX's coin-margined list is the embedded 2020 one, its USDT-margined
// list two contracts in HTX's record shape; Gate's lists a USDT-settled
// contract, one BTC-settled inverse and one BTC-settled quanto. mode
// "fail" answers 500, "error" HTX's status error and Gate a non-array.
type htxGateREST struct {
	srv  *httptest.Server
	mode atomic.Value // string
}

func newHTXGateREST(t *testing.T) *htxGateREST {
	t.Helper()
	r := &htxGateREST{}
	r.mode.Store("ok")
	coin := snapshot(t, "htx_swap_2020-07-06.json")
	linear := `[{"symbol":"BTC","contract_code":"BTC-USDT","contract_size":0.001,"price_tick":0.1,"contract_status":1,"business_type":"swap","pair":"BTC-USDT","contract_type":"swap","trade_partition":"USDT"},` +
		`{"symbol":"ETH","contract_code":"ETH-USDT","contract_size":0.01,"price_tick":0.01,"contract_status":1,"business_type":"swap","pair":"ETH-USDT","contract_type":"swap","trade_partition":"USDT"}]`
	mux := http.NewServeMux()
	htx := func(data string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			if r.mode.Load() == "error" {
				fmt.Fprint(w, `{"status":"error","err_code":1000,"err_msg":"System error.","ts":1}`)
				return
			}
			fmt.Fprintf(w, `{"status":"ok","data":%s,"ts":1594028121361}`, data)
		}
	}
	mux.HandleFunc("GET /linear-swap-api/v1/swap_contract_info", htx(linear))
	mux.HandleFunc("GET /swap-api/v1/swap_contract_info", htx(coin))
	gate := func(list string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			if r.mode.Load() == "error" {
				fmt.Fprint(w, `{"label":"INVALID_PARAM_VALUE","message":"x"}`)
				return
			}
			fmt.Fprint(w, list)
		}
	}
	mux.HandleFunc("GET /api/v4/futures/usdt/contracts", gate(`[{"name":"HEI_USDT","type":"direct","quanto_multiplier":"10","in_delisting":false},{"name":"BTC_USDT","type":"direct","quanto_multiplier":"0.0001","in_delisting":false}]`))
	mux.HandleFunc("GET /api/v4/futures/btc/contracts", gate(`[{"name":"BTC_USD","type":"inverse","quanto_multiplier":"0","in_delisting":false},{"name":"ETH_USD","type":"direct","quanto_multiplier":"0.000001","in_delisting":false}]`))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.mode.Load() == "fail" {
			http.Error(w, `{"error":"maintenance"}`, http.StatusInternalServerError)
			return
		}
		mux.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestHTXGateInstrumentsREST: the REST tables replace the embedded ones,
// with each market's terms.
func TestHTXGateInstrumentsREST(t *testing.T) {
	rest := newHTXGateREST(t)
	for _, c := range []struct {
		v     event.Venue
		sym   string
		want  Instrument
		ok    bool
		count int
	}{
		{event.HTX, "BTC-USDT", Instrument{event.Linear, event.BasisContractValue, 0.001, true}, true, 15},
		{event.HTX, "BTC-USD", Instrument{event.Inverse, event.BasisContractSize, 100, true}, true, 15},
		{event.HTX, "BSV-USD", Instrument{event.Inverse, event.BasisContractSize, 10, true}, true, 15},
		{event.Gate, "HEI_USDT", Instrument{event.Linear, event.BasisContractValue, 10, true}, true, 3},
		{event.Gate, "BTC_USD", Instrument{event.Inverse, event.BasisInverse, 1, true}, true, 3},
		{event.Gate, "ETH_USD", Instrument{}, false, 3}, // a quanto settled in BTC: no USD without a BTC price
	} {
		in, err := NewInstruments(c.v, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: rest.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		tab := in.Load()
		got, ok := tab.Lookup(c.sym)
		if tab.Source != SourceREST || tab.Len() != c.count || ok != c.ok || got != c.want {
			t.Errorf("%s %s: %+v %v from %s (%d); want %+v %v from rest (%d)", c.v, c.sym, got, ok, tab.Source, tab.Len(), c.want, c.ok, c.count)
		}
	}
}

// TestHTXGateInstrumentsFallback: a failing REST API (500, or an error in
// the body) keeps the embedded table, counted as a fallback; offline the
// embedded tables size what their sources document and nothing else.
func TestHTXGateInstrumentsFallback(t *testing.T) {
	rest := newHTXGateREST(t)
	for _, mode := range []string{"fail", "error"} {
		rest.mode.Store(mode)
		for _, v := range []event.Venue{event.HTX, event.Gate} {
			set := metrics.NewSet()
			in, err := NewInstruments(v, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: rest.srv.URL, Metrics: set})
			if err != nil {
				t.Fatal(err)
			}
			before := in.Load()
			if err := in.Refresh(context.Background()); err == nil || in.Load() != before || before.Source != SourceEmbedded {
				t.Errorf("%s %s: err %v, table replaced %v, source %s", mode, v, err, in.Load() != before, before.Source)
			}
			if n := set.GetOrCreateCounter(`liqbox_instruments_fallback_total{venue="` + v.String() + `"}`).Get(); n != 1 {
				t.Errorf("%s %s: %d fallbacks counted", mode, v, n)
			}
		}
	}
	htx := offlineInstruments(t, event.HTX).Load()
	gate := offlineInstruments(t, event.Gate).Load()
	// As the decoders look them up: by the market of the endpoint (or of
	// the name), so that a family entry of the other market (BTC-USD's
	// for BTC-USDT, BTC_USDT's for BTC_USD) never applies.
	for _, c := range []struct {
		lookup func(*Table, string, event.Market) (Instrument, bool)
		t      *Table
		sym    string
		market event.Market
		size   float64 // 0: unknown
	}{
		{htxInstrument, htx, "BTC-USD", event.Inverse, 100}, {htxInstrument, htx, "ETH-USD", event.Inverse, 10},
		{htxInstrument, htx, "BTC210813", event.Inverse, 100}, {htxInstrument, htx, "BTC200703", event.Inverse, 100},
		{htxInstrument, htx, "ETH200925", event.Inverse, 10}, {htxInstrument, htx, "XRP200925", event.Inverse, 0},
		{htxInstrument, htx, "BTC-USDT", event.Linear, 0}, {htxInstrument, htx, "DOGE-USD", event.Inverse, 0},
		{gateInstrument, gate, "BTC_USDT", event.Linear, 0.0001}, {gateInstrument, gate, "HEI_USDT", event.Linear, 0},
		{gateInstrument, gate, "BTC_USD", event.Inverse, 0},
	} {
		in, ok := c.lookup(c.t, c.sym, c.market)
		if ok != (c.size != 0) || in.Size != c.size {
			t.Errorf("embedded %s: %+v %v, want size %v", c.sym, in, ok, c.size)
		}
	}
}
