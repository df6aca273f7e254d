package ingest

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/metricdoc"
)

// Instrument is what a decoder needs to turn one venue's size field into
// base units and USD.
//
// Basis says which formula applies and Size is its factor:
//   - event.BasisLinear, event.BasisContractValue: base qty = size × Size
//     (Size is base units per contract; 1 when the venue sends base units),
//     USD = base qty × price;
//   - event.BasisInverse, event.BasisContractSize: USD = size × Size (Size is
//     USD per contract; 1 when the venue sends USD), base qty = USD / price;
//   - event.BasisUnknown: the instrument is known but its USD value is not
//     computable from the frame (a BitMEX quanto needs an XBT/USD price).
type Instrument struct {
	Market  event.Market
	Basis   event.Basis
	Size    float64
	Trading bool // listed as open for trading (Bybit subscribes only to these)
}

// Sources of a Table.
const (
	SourceREST     = "rest"
	SourceEmbedded = "embedded"
	SourceNone     = "none"
)

// Table is one immutable snapshot of a venue's instruments. Decoders read it
// without locks; a refresh replaces the whole Table.
type Table struct {
	Source  string    // SourceREST, SourceEmbedded or SourceNone
	Fetched time.Time // when the REST call returned; zero for embedded data
	bySym   map[string]Instrument
	// byFamily maps a contract family (the symbol without its last
	// "_"/"-" segment: BTCUSD for BTCUSD_PERP and BTCUSD_250926, XRP-USD
	// for XRP-USD-SWAP) to the contract terms every listed member of the
	// family shares. Families whose members disagree are left out.
	byFamily map[string]Instrument
}

// NewTable builds a Table from a symbol map, which it takes ownership of.
func NewTable(source string, fetched time.Time, m map[string]Instrument) *Table {
	if m == nil {
		m = map[string]Instrument{}
	}
	fam := map[string]Instrument{}
	conflict := map[string]bool{}
	for sym, in := range m {
		f, ok := family(sym)
		if !ok || conflict[f] {
			continue
		}
		if prev, seen := fam[f]; seen && (prev.Size != in.Size || prev.Basis != in.Basis || prev.Market != in.Market) {
			conflict[f] = true
			delete(fam, f)
			continue
		}
		in.Trading = false // a family is not a subscribable symbol
		fam[f] = in
	}
	return &Table{Source: source, Fetched: fetched, bySym: m, byFamily: fam}
}

// family returns sym without its last "_" or "-" segment: the contract
// family that Binance COIN-M (pair) and OKX (instFamily) size contracts by.
func family(sym string) (string, bool) {
	for i := len(sym) - 1; i > 0; i-- {
		if sym[i] == '_' || sym[i] == '-' {
			return sym[:i], true
		}
	}
	return "", false
}

// Lookup returns the instrument for sym. sym may be a zero-copy view: the map
// lookup does not keep it. A nil Table knows nothing.
//
// A symbol missing from the table (a dated contract that expired before the
// snapshot, or one listed after it) takes its family's contract terms when
// every listed member of the family has the same ones: Binance COIN-M sizes
// contracts by pair (every BTCUSD contract is 100 USD) and OKX by instrument
// family. That is the venue's own metadata, not a guess; a family with no
// listed member, or whose members differ, stays unknown.
func (t *Table) Lookup(sym string) (Instrument, bool) {
	if t == nil {
		return Instrument{}, false
	}
	if in, ok := t.bySym[sym]; ok {
		return in, true
	}
	if f, ok := family(sym); ok {
		in, ok := t.byFamily[f]
		return in, ok
	}
	return Instrument{}, false
}

// Len is the number of instruments in the table.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.bySym)
}

// Symbols returns, sorted, the trading symbols of market m (Bybit's
// subscription list).
func (t *Table) Symbols(m event.Market) []string {
	if t == nil {
		return nil
	}
	var out []string
	for s, in := range t.bySym {
		if in.Market == m && in.Trading {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// fetchFunc loads a venue's instruments from its REST API at base.
type fetchFunc func(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error)

// Instruments holds the current instrument Table of one venue behind an
// atomic pointer and refreshes it from the venue's REST API. The zero value
// is not usable: build it with NewInstruments. A nil *Instruments is valid
// for decoders and knows no instrument.
type Instruments struct {
	venue  event.Venue
	base   string
	every  time.Duration
	client *http.Client
	log    *slog.Logger
	fetch  fetchFunc // nil: the venue needs no metadata

	cur atomic.Pointer[Table]

	refreshOK    *metrics.Counter
	refreshErr   *metrics.Counter
	fallbacks    *metrics.Counter
	embeddedUsed *metrics.Gauge
	count        *metrics.Gauge
}

// RESTOff as VenueConfig.RESTURL turns the REST refresh off: the
// instrument table stays the embedded snapshot.
const RESTOff = "off"

// DefaultRefreshEvery is how often instrument metadata is re-fetched when
// VenueConfig.RefreshEvery is zero: contract sizes change rarely, new
// listings daily.
const DefaultRefreshEvery = time.Hour

// NewInstruments builds the instrument table of venue v, filled from the
// snapshot files in o.Snapshots (Bybit has none, and without Snapshots no
// venue has: the table starts empty) until the first Refresh. o.RESTURL
// overrides the venue's REST base URL.
func NewInstruments(v event.Venue, o VenueConfig) (*Instruments, error) {
	in := &Instruments{
		venue:  v,
		base:   o.RESTURL,
		every:  o.RefreshEvery,
		client: o.HTTPClient,
		log:    o.Logger,
	}
	if in.every <= 0 {
		in.every = DefaultRefreshEvery
	}
	if in.client == nil {
		in.client = &http.Client{Timeout: 30 * time.Second}
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	in.log = in.log.With("component", "instruments", "venue", v.String())
	switch v {
	case event.BinanceUSDM, event.Bitfinex, event.Bitget, event.Aster:
	case event.Deribit:
		in.fetch = fetchDeribit
	case event.KrakenFutures:
		in.fetch = fetchKrakenFutures
	case event.BinanceCOINM:
		in.fetch = fetchBinanceCOINM
	case event.Bybit:
		in.fetch = fetchBybit
	case event.OKX:
		in.fetch = fetchOKX
	case event.BitMEX:
		in.fetch = fetchBitMEX
	case event.HTX:
		in.fetch = fetchHTX
	case event.Gate:
		in.fetch = fetchGate
	default:
		return nil, fmt.Errorf("cannot build instruments for venue %q: unknown venue", v)
	}
	if in.base == RESTOff {
		in.fetch = nil
	}
	if in.base == "" {
		in.base = defaultRESTURL(v)
	}
	set := o.Metrics
	if set == nil {
		set = metrics.NewSet()
	}
	lbl := `{venue="` + v.String() + `"}`
	metricdoc.Describe(set, `liqbox_instruments_refresh_total`, "Instrument metadata refreshes over REST, by result.")
	metricdoc.Describe(set, `liqbox_instruments_fallback_total`, "Notionals computed with embedded or stale instrument metadata.")
	metricdoc.Describe(set, `liqbox_instruments_embedded`, "1 while the venue's instrument metadata is the embedded snapshot.")
	metricdoc.Describe(set, `liqbox_instruments`, "Instruments known for the venue.")
	in.refreshOK = set.GetOrCreateCounter(`liqbox_instruments_refresh_total{venue="` + v.String() + `",result="ok"}`)
	in.refreshErr = set.GetOrCreateCounter(`liqbox_instruments_refresh_total{venue="` + v.String() + `",result="error"}`)
	in.fallbacks = set.GetOrCreateCounter(`liqbox_instruments_fallback_total` + lbl)
	in.embeddedUsed = set.GetOrCreateGauge(`liqbox_instruments_embedded`+lbl, nil)
	in.count = set.GetOrCreateGauge(`liqbox_instruments`+lbl, nil)

	t, err := SnapshotTable(o.Snapshots, v)
	if err != nil {
		return nil, err
	}
	in.store(t)
	return in, nil
}

// Venue is the venue whose instruments these are.
func (in *Instruments) Venue() event.Venue { return in.venue }

// Load returns the current table. Safe from any goroutine; nil-safe.
func (in *Instruments) Load() *Table {
	if in == nil {
		return nil
	}
	return in.cur.Load()
}

func (in *Instruments) store(t *Table) {
	in.cur.Store(t)
	in.count.Set(float64(t.Len()))
	if t.Source == SourceREST {
		in.embeddedUsed.Set(0)
	} else {
		in.embeddedUsed.Set(1)
	}
}

// Refresh fetches the venue's instruments over REST and swaps them in. On
// failure the table in use stays (the last good REST table, or the embedded
// snapshot), the fallback is counted and logged, and the error is returned.
func (in *Instruments) Refresh(ctx context.Context) error {
	if in.fetch == nil {
		return nil
	}
	m, err := in.fetch(ctx, in.client, in.base)
	if err == nil && len(m) == 0 {
		err = errEmptyInstruments
	}
	if err != nil {
		in.refreshErr.Inc()
		in.fallbacks.Inc()
		cur := in.cur.Load()
		in.log.Warn("instrument refresh failed, keeping previous table",
			"err", err, "source", cur.Source, "instruments", cur.Len())
		return fmt.Errorf("cannot refresh %s instruments: %w", in.venue, err)
	}
	in.refreshOK.Inc()
	in.store(NewTable(SourceREST, time.Now(), m))
	in.log.Debug("instruments refreshed", "instruments", len(m))
	return nil
}

// Run refreshes at once and then every RefreshEvery until ctx is done. REST
// failures are logged and counted, never fatal: decoding goes on with the
// table in use. It returns nil when ctx is cancelled.
func (in *Instruments) Run(ctx context.Context) error {
	if in.fetch == nil {
		<-ctx.Done()
		return nil
	}
	_ = in.Refresh(ctx) // logged and counted inside
	t := time.NewTicker(in.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = in.Refresh(ctx)
		}
	}
}

// applySize fills Qty, Notional, Basis (and Market when the instrument is
// known) of e from a venue size n and price, following the Instrument rules.
// Without usable metadata both figures are NaN and Basis is BasisUnknown:
// never zero, never guessed.
func applySize(e *event.Event, in Instrument, ok bool, n, price float64) {
	if ok && in.Market != event.MarketUnknown {
		e.Market = in.Market
	}
	if !ok || in.Basis == event.BasisUnknown || !(in.Size > 0) {
		e.Qty, e.Notional, e.Basis = math.NaN(), math.NaN(), event.BasisUnknown
		return
	}
	e.Basis = in.Basis
	switch in.Basis {
	case event.BasisInverse, event.BasisContractSize:
		e.Notional = n * in.Size
		if price > 0 {
			e.Qty = e.Notional / price
		} else {
			e.Qty = math.NaN()
		}
	default:
		e.Qty = n * in.Size
		e.Notional = e.Qty * price
	}
}

// snapshotFiles lists, per venue, its snapshot files (paths inside
// VenueConfig.Snapshots), oldest first: a later file overrides an earlier
// one symbol by symbol.
var snapshotFiles = map[event.Venue][]struct {
	name  string
	parse func(gjson.Result) (string, Instrument, bool)
}{
	event.BinanceCOINM: {
		{"instruments/binance_coinm.json", parseBinanceCOINM},
		{"instruments/binance_coinm_metadata.json", parseBinanceCOINMDerived},
	},
	event.OKX: {
		{"instruments/okx_futures.json", parseOKX},
		{"instruments/okx_swap.json", parseOKX},
	},
	event.BitMEX: {
		{"instruments/bitmex.json", parseBitMEX},
		{"instruments/bitmex_ccxt_2026-05-21.json", parseBitMEX},
	},
	event.HTX: {
		{"instruments/htx_swap_2020-07-06.json", parseHTXCoinSwap},
		{"instruments/htx_futures_doc.json", parseHTXCoinFutures},
	},
	event.Gate: {
		{"instruments/gate_usdt_doc.json", parseGateContractInfo},
	},
}

// snapshotDerive completes a venue's snapshot table with entries derived
// from its records (HTX: the terms its delivery futures share per coin).
var snapshotDerive = map[event.Venue]func(map[string]Instrument){
	event.HTX: htxDeliveryFamilies,
}

// SnapshotTable returns venue v's instruments from the snapshot files in
// fsys (the binary passes the ones it embeds, embed.Instruments: files
// instruments/binance_coinm.json, instruments/okx_swap.json, …). A venue
// without a snapshot, or a nil fsys, gets an empty table with SourceNone;
// a listed file that is missing or unreadable is an error, so a broken
// build fails at start instead of decoding with no metadata.
func SnapshotTable(fsys fs.FS, v event.Venue) (*Table, error) {
	files, ok := snapshotFiles[v]
	if !ok || fsys == nil {
		return NewTable(SourceNone, time.Time{}, nil), nil
	}
	m := make(map[string]Instrument)
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f.name)
		if err != nil {
			return nil, fmt.Errorf("cannot read instrument snapshot %s: %w", f.name, err)
		}
		if !gjson.ValidBytes(b) {
			return nil, fmt.Errorf("cannot parse instrument snapshot %s: %w", f.name, ErrMalformed)
		}
		gjson.ParseBytes(b).ForEach(func(_, r gjson.Result) bool {
			if sym, in, ok := f.parse(r); ok {
				m[sym] = in
			}
			return true
		})
	}
	if derive := snapshotDerive[v]; derive != nil {
		derive(m)
	}
	return NewTable(SourceEmbedded, time.Time{}, m), nil
}

// parseBinanceCOINM reads one exchangeInfo symbols[] record.
func parseBinanceCOINM(r gjson.Result) (string, Instrument, bool) {
	sym := r.Get("symbol").String()
	cs := r.Get("contractSize").Float()
	if sym == "" || !(cs > 0) {
		return "", Instrument{}, false
	}
	return sym, Instrument{Market: event.Inverse, Basis: event.BasisContractSize, Size: cs,
		Trading: r.Get("contractStatus").String() == "TRADING"}, true
}

// parseBinanceCOINMDerived reads a crypto-markets record, whose
// contract_value is Binance's contractSize.
func parseBinanceCOINMDerived(r gjson.Result) (string, Instrument, bool) {
	sym := r.Get("symbol").String()
	cs := r.Get("contract_value").Float()
	if sym == "" || !(cs > 0) {
		return "", Instrument{}, false
	}
	return sym, Instrument{Market: event.Inverse, Basis: event.BasisContractSize, Size: cs,
		Trading: r.Get("active").Bool()}, true
}

// parseOKX reads one /api/v5/public/instruments record. ctMult is required:
// an instrument without it is left unknown rather than assumed to be 1.
func parseOKX(r gjson.Result) (string, Instrument, bool) {
	sym := r.Get("instId").String()
	ctVal, ok1 := parseDecimal(r.Get("ctVal").String())
	ctMult, ok2 := parseDecimal(r.Get("ctMult").String())
	if sym == "" || !ok1 || !ok2 || !(ctVal > 0) || !(ctMult > 0) {
		return "", Instrument{}, false
	}
	in := Instrument{Size: ctVal * ctMult, Trading: r.Get("state").String() == "live"}
	switch r.Get("ctType").String() {
	case "linear":
		in.Market, in.Basis = event.Linear, event.BasisContractValue
	case "inverse":
		in.Market, in.Basis = event.Inverse, event.BasisInverse
		if r.Get("ctValCcy").String() != "USD" {
			in.Basis = event.BasisUnknown // contract value in a coin: needs a price we lack
		}
	default:
		return "", Instrument{}, false
	}
	return sym, in, true
}

// parseBitMEX reads one /api/v1/instrument record. Numbers may be JSON
// numbers (the API) or strings (ccxt's copy); gjson's Float reads both.
// Contract sizes follow BitMEX's support article: inverse = multiplier /
// underlyingToSettleMultiplier USD; linear = 1 / underlyingToPositionMultiplier
// base units; quanto needs an XBT/USD price, so its USD value is unknown.
func parseBitMEX(r gjson.Result) (string, Instrument, bool) {
	sym := r.Get("symbol").String()
	if sym == "" {
		return "", Instrument{}, false
	}
	in := Instrument{Trading: r.Get("state").String() == "Open"}
	quote := r.Get("quoteCurrency").String()
	mult := r.Get("multiplier").Float()
	switch {
	case r.Get("isInverse").Bool():
		in.Market = event.Inverse
		if u := r.Get("underlyingToSettleMultiplier").Float(); u != 0 && quote == "USD" && mult/u > 0 {
			in.Basis, in.Size = event.BasisInverse, mult/u
		}
	case r.Get("isQuanto").Bool():
		// Settled in XBT per USD of price: neither linear nor inverse.
	default:
		in.Market = event.Linear
		if u := r.Get("underlyingToPositionMultiplier").Float(); u > 0 && (quote == "USDT" || quote == "USDC") {
			in.Basis, in.Size = event.BasisContractValue, 1/u
		}
	}
	return sym, in, true
}

// parseBybit reads one /v5/market/instruments-info list[] record.
func parseBybit(r gjson.Result) (string, Instrument, bool) {
	sym := r.Get("symbol").String()
	if sym == "" {
		return "", Instrument{}, false
	}
	in := Instrument{Size: 1, Trading: r.Get("status").String() == "Trading"}
	switch r.Get("contractType").String() {
	case "LinearPerpetual", "LinearFutures":
		in.Market, in.Basis = event.Linear, event.BasisLinear
	case "InversePerpetual", "InverseFutures":
		in.Market, in.Basis = event.Inverse, event.BasisInverse
	default:
		return "", Instrument{}, false
	}
	return sym, in, true
}
