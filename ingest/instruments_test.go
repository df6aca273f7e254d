package ingest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/VictoriaMetrics/metrics"

	liqembed "github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
)

// snapshot returns an embedded snapshot file's bytes, which the loopback
// servers wrap in each venue's response envelope.
func snapshot(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "embed", "instruments", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// venueREST is a loopback server speaking the metadata endpoints of every
// venue; fail makes every request answer 500.
type venueREST struct {
	srv      *httptest.Server
	fail     atomic.Bool
	requests atomic.Int64
}

func newVenueREST(t *testing.T) *venueREST {
	t.Helper()
	coinm := `{"timezone":"UTC","symbols":` + snapshot(t, "binance_coinm.json") + `}`
	okxSwap := `{"code":"0","msg":"","data":` + snapshot(t, "okx_swap.json") + `}`
	okxFut := `{"code":"0","msg":"","data":` + snapshot(t, "okx_futures.json") + `}`
	bitmex := snapshot(t, "bitmex.json")
	v := &venueREST{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dapi/v1/exchangeInfo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, coinm)
	})
	mux.HandleFunc("GET /api/v5/public/instruments", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("instType") {
		case "SWAP":
			fmt.Fprint(w, okxSwap)
		case "FUTURES":
			fmt.Fprint(w, okxFut)
		default:
			fmt.Fprint(w, `{"code":"51000","msg":"Parameter instType error","data":[]}`)
		}
	})
	mux.HandleFunc("GET /api/v1/instrument/active", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, bitmex)
	})
	mux.HandleFunc("GET /v5/market/instruments-info", bybitInstrumentsHandler)
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.requests.Add(1)
		if v.fail.Load() {
			http.Error(w, `{"error":"maintenance"}`, http.StatusInternalServerError)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

// bybitInstrumentsHandler serves instruments-info in pages of two, like
// Bybit's cursor pagination, with symbols seen in the recorded frames.
func bybitInstrumentsHandler(w http.ResponseWriter, r *http.Request) {
	lists := map[string][]string{
		"linear": {`{"symbol":"BTCUSDT","contractType":"LinearPerpetual","status":"Trading"}`,
			`{"symbol":"RLCUSDT","contractType":"LinearPerpetual","status":"Trading"}`,
			`{"symbol":"BTC-26DEC25","contractType":"LinearFutures","status":"Trading"}`,
			`{"symbol":"OLDUSDT","contractType":"LinearPerpetual","status":"Closed"}`,
			`{"symbol":"MAGICUSDT","contractType":"LinearPerpetual","status":"Trading"}`},
		"inverse": {`{"symbol":"BTCUSD","contractType":"InversePerpetual","status":"Trading"}`,
			`{"symbol":"XRPUSD","contractType":"InversePerpetual","status":"Trading"}`,
			`{"symbol":"BTCUSDH26","contractType":"InverseFutures","status":"Trading"}`},
	}
	cat := r.URL.Query().Get("category")
	list, ok := lists[cat]
	if !ok {
		fmt.Fprint(w, `{"retCode":10001,"retMsg":"Illegal category","result":{}}`)
		return
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		fmt.Sscanf(c, "page%d", &start)
	}
	end := min(start+2, len(list))
	next := ""
	if end < len(list) {
		next = fmt.Sprintf("page%d", end)
	}
	fmt.Fprintf(w, `{"retCode":0,"retMsg":"OK","result":{"category":%q,"list":[%s],"nextPageCursor":%q},"time":1}`,
		cat, strings.Join(list[start:end], ","), next)
}

func TestInstrumentsREST(t *testing.T) {
	rest := newVenueREST(t)
	cases := []struct {
		venue event.Venue
		sym   string
		want  Instrument
		count int
	}{
		{event.BinanceCOINM, "BTCUSD_PERP", Instrument{event.Inverse, event.BasisContractSize, 100, true}, 62},
		{event.BinanceCOINM, "ETHUSD_PERP", Instrument{event.Inverse, event.BasisContractSize, 10, true}, 62},
		{event.OKX, "BTC-USDT-SWAP", Instrument{event.Linear, event.BasisContractValue, 0.01, true}, 309},
		{event.OKX, "BTC-USD-SWAP", Instrument{event.Inverse, event.BasisInverse, 100, true}, 309},
		{event.OKX, "BTC-USD-250926", Instrument{event.Inverse, event.BasisInverse, 100, true}, 309},
		{event.BitMEX, "XBTUSD", Instrument{event.Inverse, event.BasisInverse, 1, true}, 85},
		{event.BitMEX, "XBTUSDT", Instrument{event.Linear, event.BasisContractValue, 1e-6, true}, 85},
		{event.BitMEX, "ETHUSD", Instrument{event.MarketUnknown, event.BasisUnknown, 0, true}, 85},
		{event.Bybit, "MAGICUSDT", Instrument{event.Linear, event.BasisLinear, 1, true}, 8},
		{event.Bybit, "BTCUSDH26", Instrument{event.Inverse, event.BasisInverse, 1, true}, 8},
	}
	for _, c := range cases {
		t.Run(c.venue.String()+"/"+c.sym, func(t *testing.T) {
			set := metrics.NewSet()
			in, err := NewInstruments(c.venue, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: rest.srv.URL, Metrics: set})
			if err != nil {
				t.Fatal(err)
			}
			if err := in.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			tab := in.Load()
			if tab.Source != SourceREST || tab.Len() != c.count {
				t.Errorf("source %s, %d instruments; want rest, %d", tab.Source, tab.Len(), c.count)
			}
			got, ok := tab.Lookup(c.sym)
			if !ok || got != c.want {
				t.Errorf("Lookup(%s) = %+v, %v; want %+v", c.sym, got, ok, c.want)
			}
		})
	}
}

func TestBybitSymbolsPaginated(t *testing.T) {
	rest := newVenueREST(t)
	in, err := NewInstruments(event.Bybit, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: rest.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if in.Load().Source != SourceNone || in.Load().Len() != 0 {
		t.Fatalf("Bybit should start with no table, got %s/%d", in.Load().Source, in.Load().Len())
	}
	// Subscribe on an empty table refreshes it first.
	frames, err := bybitSubscribe(context.Background(), in, event.Linear)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"op":"subscribe","args":["allLiquidation.BTC-26DEC25","allLiquidation.BTCUSDT","allLiquidation.MAGICUSDT","allLiquidation.RLCUSDT"]}`
	if len(frames) != 1 || string(frames[0]) != want {
		t.Errorf("linear subscribe = %q, want %q", frames, want)
	}
	if got := in.Load().Symbols(event.Inverse); strings.Join(got, ",") != "BTCUSD,BTCUSDH26,XRPUSD" {
		t.Errorf("inverse symbols %v", got)
	}
}

func TestInstrumentsFallbackOn500(t *testing.T) {
	rest := newVenueREST(t)
	rest.fail.Store(true)
	for _, v := range []event.Venue{event.BinanceCOINM, event.OKX, event.BitMEX, event.Bybit} {
		t.Run(v.String(), func(t *testing.T) {
			set := metrics.NewSet()
			in, err := NewInstruments(v, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: rest.srv.URL, Metrics: set})
			if err != nil {
				t.Fatal(err)
			}
			before := in.Load()
			if err := in.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh succeeded against a failing server")
			}
			if in.Load() != before {
				t.Error("a failed refresh replaced the table")
			}
			var sb strings.Builder
			set.WritePrometheus(&sb)
			if !strings.Contains(sb.String(), `liqbox_instruments_fallback_total{venue="`+v.String()+`"} 1`) ||
				!strings.Contains(sb.String(), `liqbox_instruments_embedded{venue="`+v.String()+`"} 1`) {
				t.Errorf("metrics do not show the fallback:\n%s", sb.String())
			}
		})
	}
	// The embedded table keeps decoding: OKX BTC-USDT-SWAP still has ctVal.
	in, _ := NewInstruments(event.OKX, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: rest.srv.URL})
	_ = in.Refresh(context.Background())
	if got, ok := in.Load().Lookup("BTC-USDT-SWAP"); !ok || got.Size != 0.01 || in.Load().Source != SourceEmbedded {
		t.Errorf("after a failed refresh: %+v %v from %s", got, ok, in.Load().Source)
	}
}

// TestInstrumentsRunRefreshes checks the periodic refresh and that a later
// failure keeps the last good REST table.
func TestInstrumentsRunRefreshes(t *testing.T) {
	rest := newVenueREST(t)
	in, err := NewInstruments(event.BitMEX, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: rest.srv.URL, RefreshEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for rest.requests.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if in.Load().Source != SourceREST {
		t.Errorf("source %s after refreshes", in.Load().Source)
	}
	rest.fail.Store(true)
	n := rest.requests.Load()
	for rest.requests.Load() < n+2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if in.Load().Source != SourceREST {
		t.Errorf("a failed refresh dropped the REST table for %s", in.Load().Source)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestBybitSubscribeChunks(t *testing.T) {
	var syms []string
	for i := 0; i < 1500; i++ {
		syms = append(syms, fmt.Sprintf("SYM%dUSDT", i))
	}
	frames := bybitSubscribeFrames(syms, bybitArgsBudget)
	total := 0
	for _, f := range frames {
		s := string(f)
		i := strings.Index(s, "[")
		args := s[i : strings.LastIndex(s, "]")+1]
		if len(args) > bybitArgsBudget || len(args) > 21000 {
			t.Errorf("args of %d chars", len(args))
		}
		total += strings.Count(args, "allLiquidation.")
	}
	if total != len(syms) || len(frames) < 2 {
		t.Errorf("%d topics in %d frames, want %d in several", total, len(frames), len(syms))
	}
}

func TestBybitMarketByName(t *testing.T) {
	for sym, want := range map[string]event.Market{
		"BTCUSDT": event.Linear, "BTCPERP": event.Linear, "ETHUSDC": event.Linear, "BTC-26DEC25": event.Linear,
		"BTCUSD": event.Inverse, "XRPUSD": event.Inverse, "BTCUSDH25": event.Inverse, "BTCUSDZ26": event.Inverse,
		"FOO": event.MarketUnknown,
	} {
		if got := bybitMarketByName(sym); got != want {
			t.Errorf("%s: %s, want %s", sym, got, want)
		}
	}
}

// TestSnapshotTableFromFS: ingest reads snapshots only from the fs.FS it is
// handed: none gives an empty table, a listed file that is missing or not
// JSON is an error (a broken build must not decode without metadata).
func TestSnapshotTableFromFS(t *testing.T) {
	if tab, err := SnapshotTable(nil, event.OKX); err != nil || tab.Source != SourceNone || tab.Len() != 0 {
		t.Errorf("nil FS: %v %v", tab, err)
	}
	fsys := fstest.MapFS{
		"instruments/okx_futures.json": {Data: []byte(`[]`)},
		"instruments/okx_swap.json":    {Data: []byte(`[{"instId":"BTC-USDT-SWAP","ctVal":"0.01","ctMult":"1","ctType":"linear","state":"live"}]`)},
	}
	tab, err := SnapshotTable(fsys, event.OKX)
	if err != nil || tab.Source != SourceEmbedded || tab.Len() != 1 {
		t.Fatalf("MapFS: %v, %v", tab, err)
	}
	if _, err := SnapshotTable(fsys, event.BitMEX); err == nil {
		t.Error("missing BitMEX snapshot files: no error")
	}
	fsys["instruments/okx_swap.json"] = &fstest.MapFile{Data: []byte(`[{`)}
	if _, err := SnapshotTable(fsys, event.OKX); err == nil {
		t.Error("truncated snapshot: no error")
	}
}

// TestInstrumentsRESTOff: rest_url = off never fetches; the embedded
// snapshot is the table, and decoding has its sizes.
func TestInstrumentsRESTOff(t *testing.T) {
	for _, v := range []event.Venue{event.BinanceCOINM, event.OKX, event.BitMEX, event.HTX, event.Gate, event.Deribit} {
		set := metrics.NewSet()
		in, err := NewInstruments(v, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: RESTOff, Metrics: set, RefreshEvery: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Refresh(context.Background()); err != nil {
			t.Errorf("%s: Refresh with REST off: %v", v, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		if err := in.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", v, err)
		}
		cancel()
		var sb strings.Builder
		set.WritePrometheus(&sb)
		if strings.Contains(sb.String(), `liqbox_instruments_refresh_total{venue="`+v.String()+`",result="error"} 1`) ||
			in.Load().Source == SourceREST {
			t.Errorf("%s: a refresh was attempted with REST off:\n%s", v, sb.String())
		}
	}
	in, _ := NewInstruments(event.OKX, VenueConfig{Snapshots: liqembed.Instruments, RESTURL: RESTOff})
	if got, ok := in.Load().Lookup("BTC-USDT-SWAP"); !ok || got.Size != 0.01 {
		t.Errorf("OKX with REST off: %+v %v", got, ok)
	}
}
