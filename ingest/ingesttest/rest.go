package ingesttest

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/event"
)

// Listing is one instrument a loopback REST listing serves.
type Listing struct {
	Venue  event.Venue // Bybit or KrakenFutures
	Symbol string      // BTCUSDT, BTCUSD; PI_XBTUSD, PF_XBTUSD
	// Inverse lists it as Bybit's inverse category (InversePerpetual,
	// settled in its base coin); Kraken's kind follows the product's
	// prefix, as the venue names them (PI_ futures_inverse, PF_
	// flexible_futures).
	Inverse bool
	// ContractSize is Kraken's contractSize [1].
	ContractSize float64
}

// InstrumentsHandler serves the instrument listings of the venues whose
// metadata liqbox has no embedded snapshot of, as the venues answer them:
// Bybit's GET /v5/market/instruments-info?category=linear|inverse (one
// instrument per page, so the client's cursor pagination runs; an unknown
// category gets Bybit's retCode 10001) and Kraken Futures' GET
// /derivatives/api/v3/instruments.
func InstrumentsHandler(ls []Listing) http.Handler {
	bybit := map[string][]string{}
	var kraken []Listing
	for _, l := range ls {
		switch l.Venue {
		case event.Bybit:
			cat := "linear"
			if l.Inverse {
				cat = "inverse"
			}
			bybit[cat] = append(bybit[cat], l.Symbol)
		case event.KrakenFutures:
			kraken = append(kraken, l)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v5/market/instruments-info", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		cat := r.URL.Query().Get("category")
		syms, ok := bybit[cat]
		if !ok {
			io.WriteString(w, `{"retCode":10001,"retMsg":"params error: category","result":{},"retExtInfo":{},"time":`+now+`}`)
			return
		}
		page, err := strconv.Atoi(r.URL.Query().Get("cursor"))
		if err != nil || page < 0 || page >= len(syms) {
			page = 0
		}
		sym := syms[page]
		ctype, settle := "LinearPerpetual", "USDT"
		if cat == "inverse" {
			ctype, settle = "InversePerpetual", sym[:len(sym)-3]
		}
		next := ""
		if page+1 < len(syms) {
			next = strconv.Itoa(page + 1)
		}
		io.WriteString(w, `{"retCode":0,"retMsg":"OK","result":{"category":"`+cat+`","list":[{"symbol":"`+sym+
			`","contractType":"`+ctype+`","status":"Trading","baseCoin":"`+sym[:3]+`","quoteCoin":"`+sym[3:]+
			`","settleCoin":"`+settle+`"}],"nextPageCursor":"`+next+`"},"retExtInfo":{},"time":`+now+`}`)
	})
	mux.HandleFunc("GET /derivatives/api/v3/instruments", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var b strings.Builder
		b.WriteString(`{"result":"success","instruments":[`)
		for i, l := range kraken {
			if i > 0 {
				b.WriteByte(',')
			}
			typ := "flexible_futures"
			if strings.HasPrefix(l.Symbol, "PI_") || strings.HasPrefix(l.Symbol, "FI_") {
				typ = "futures_inverse"
			}
			size := l.ContractSize
			if size == 0 {
				size = 1
			}
			b.WriteString(`{"symbol":"` + l.Symbol + `","type":"` + typ + `","tradeable":true,"contractSize":` +
				strconv.FormatFloat(size, 'f', -1, 64) + `,"tickSize":0.5,"tradfi":false}`)
		}
		b.WriteString(`],"serverTime":"` + time.Now().UTC().Format("2006-01-02T15:04:05.000Z") + `"}`)
		io.WriteString(w, b.String())
	})
	return mux
}
