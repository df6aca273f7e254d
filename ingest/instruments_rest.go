package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// Default REST base URLs of the venues' public metadata endpoints.
const (
	DefaultBinanceCOINMREST = "https://dapi.binance.com"
	DefaultBybitREST        = "https://api.bybit.com"
	DefaultOKXREST          = "https://www.okx.com"
	DefaultBitMEXREST       = "https://www.bitmex.com"
	DefaultHTXREST          = "https://api.hbdm.com"
	DefaultGateREST         = "https://api.gateio.ws"
)

var errEmptyInstruments = errors.New("venue returned no instruments")

// maxRESTBody bounds a metadata response: the largest (OKX SWAP) is a few
// hundred KB; anything far beyond that is not what we asked for.
const maxRESTBody = 32 << 20

func defaultRESTURL(v event.Venue) string {
	switch v {
	case event.BinanceCOINM:
		return DefaultBinanceCOINMREST
	case event.Bybit:
		return DefaultBybitREST
	case event.OKX:
		return DefaultOKXREST
	case event.BitMEX:
		return DefaultBitMEXREST
	case event.Deribit:
		return DefaultDeribitREST
	case event.KrakenFutures:
		return DefaultKrakenFuturesREST
	case event.HTX:
		return DefaultHTXREST
	case event.Gate:
		return DefaultGateREST
	}
	return ""
}

// getJSON GETs base+path with query q and returns the body, which must be
// valid JSON and come with status 200.
func getJSON(ctx context.Context, c *http.Client, base, path string, q url.Values) ([]byte, error) {
	u := base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot build request %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot get %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRESTBody))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot get %s: status %d: %.200s", u, resp.StatusCode, body)
	}
	if !gjson.ValidBytes(body) {
		return nil, fmt.Errorf("cannot parse %s: %w", u, ErrMalformed)
	}
	return body, nil
}

// collect runs parse over every element of arr into m.
func collect(m map[string]Instrument, arr gjson.Result, parse func(gjson.Result) (string, Instrument, bool)) {
	arr.ForEach(func(_, r gjson.Result) bool {
		if sym, in, ok := parse(r); ok {
			m[sym] = in
		}
		return true
	})
}

// fetchBinanceCOINM reads GET /dapi/v1/exchangeInfo (symbols[].contractSize).
func fetchBinanceCOINM(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error) {
	body, err := getJSON(ctx, c, base, "/dapi/v1/exchangeInfo", nil)
	if err != nil {
		return nil, err
	}
	syms := gjson.GetBytes(body, "symbols")
	if !syms.IsArray() {
		return nil, fmt.Errorf("cannot read exchangeInfo: no symbols array: %w", ErrUnexpected)
	}
	m := make(map[string]Instrument)
	collect(m, syms, parseBinanceCOINM)
	return m, nil
}

// fetchOKX reads GET /api/v5/public/instruments for SWAP and FUTURES; both
// must succeed, so a half table never replaces a whole one.
func fetchOKX(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error) {
	m := make(map[string]Instrument)
	for _, typ := range []string{"SWAP", "FUTURES"} {
		body, err := getJSON(ctx, c, base, "/api/v5/public/instruments", url.Values{"instType": {typ}})
		if err != nil {
			return nil, err
		}
		if code := gjson.GetBytes(body, "code").String(); code != "0" {
			return nil, fmt.Errorf("cannot get OKX %s instruments: code %q %s: %w",
				typ, code, gjson.GetBytes(body, "msg").String(), ErrUnexpected)
		}
		collect(m, gjson.GetBytes(body, "data"), parseOKX)
	}
	return m, nil
}

// fetchBitMEX reads GET /api/v1/instrument/active (a bare array).
func fetchBitMEX(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error) {
	body, err := getJSON(ctx, c, base, "/api/v1/instrument/active", nil)
	if err != nil {
		return nil, err
	}
	arr := gjson.ParseBytes(body)
	if !arr.IsArray() {
		return nil, fmt.Errorf("cannot read BitMEX instruments: not an array: %w", ErrUnexpected)
	}
	m := make(map[string]Instrument)
	collect(m, arr, parseBitMEX)
	return m, nil
}

// bybitMaxPages bounds cursor pagination, so a server that keeps returning
// a cursor cannot hold the refresh forever (1000 per page: 50 pages is far
// beyond any real listing).
const bybitMaxPages = 50

// fetchBybit reads GET /v5/market/instruments-info for the linear and the
// inverse category, following nextPageCursor.
func fetchBybit(ctx context.Context, c *http.Client, base string) (map[string]Instrument, error) {
	m := make(map[string]Instrument)
	for _, cat := range []string{"linear", "inverse"} {
		cursor := ""
		for page := 0; ; page++ {
			if page == bybitMaxPages {
				return nil, fmt.Errorf("cannot get Bybit %s instruments: more than %d pages: %w", cat, bybitMaxPages, ErrUnexpected)
			}
			q := url.Values{"category": {cat}, "limit": {"1000"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			body, err := getJSON(ctx, c, base, "/v5/market/instruments-info", q)
			if err != nil {
				return nil, err
			}
			if rc := gjson.GetBytes(body, "retCode").Int(); rc != 0 {
				return nil, fmt.Errorf("cannot get Bybit %s instruments: retCode %d %s: %w",
					cat, rc, gjson.GetBytes(body, "retMsg").String(), ErrUnexpected)
			}
			collect(m, gjson.GetBytes(body, "result.list"), parseBybit)
			next := gjson.GetBytes(body, "result.nextPageCursor").String()
			if next == "" || next == cursor {
				break
			}
			cursor = next
		}
	}
	return m, nil
}
