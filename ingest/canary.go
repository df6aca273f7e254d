package ingest

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Each venue's canary: a steady public stream of liquid instruments on the
// liquidation stream's own connection and endpoint (see Canary), with its
// cadence and the silence limit that follows from it.
const (
	// binanceCanaryAfter: <symbol>@markPrice@1s pushes every second.
	binanceCanaryAfter = 5 * time.Second
	// bybitCanaryAfter: tickers.<symbol> pushes every 100 ms.
	bybitCanaryAfter = 5 * time.Second
	// okxCanaryAfter: mark-price pushes every 200 ms while the price moves
	// and at least every 10 s when it does not. Two instruments make a
	// quiet spell of both unlikely; 8 s keeps detection within 10 s.
	okxCanaryAfter = 8 * time.Second
	// bitmexCanaryAfter: instrument updates arrive several times a second
	// for XBTUSD in recordings, but BitMEX documents no cadence: a
	// generous limit.
	bitmexCanaryAfter = 30 * time.Second
)

// Default canary instruments, the most liquid of each endpoint.
var (
	defaultCanary = map[string][]string{
		"binance-usdm":  {"BTCUSDT"},
		"binance-coinm": {"BTCUSD_PERP"},
		"bybit-linear":  {"BTCUSDT"},
		"bybit-inverse": {"BTCUSD"},
		"okx":           {"BTC-USDT-SWAP", "ETH-USDT-SWAP"},
		"bitmex":        {"XBTUSD"},
		"aster":         {"BTCUSDT"},
		"deribit":       {"btc_usd"},
		"htx-linear":    {"BTC-USDT"},
		"htx-inverse":   {"BTC-USD"},
		"gate-usdt":     {"BTC_USDT"},
		"gate-btc":      {"BTC_USD"},
	}
	binanceMarkRaw   = []byte(`{"e":"markPriceUpdate"`)
	bybitTicker      = []byte(`{"topic":"tickers.`)
	okxMarkPrice     = []byte(`{"arg":{"channel":"mark-price"`)
	bitmexInstrument = []byte(`{"table":"instrument"`)
)

// CanaryNone in VenueConfig.Canary disables the canary.
const CanaryNone = "none"

// canarySymbols resolves a VenueConfig canary setting: "" takes def,
// CanaryNone none, else a comma-separated list of instrument ids.
func canarySymbols(cfg string, def []string) ([]string, error) {
	cfg = strings.TrimSpace(cfg)
	switch cfg {
	case "":
		return def, nil
	case CanaryNone:
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(cfg, ",") {
		s = strings.TrimSpace(s)
		if !plainSymbol(s) {
			return nil, fmt.Errorf("cannot use canary instrument %q: not a plain instrument id", s)
		}
		out = append(out, s)
	}
	return out, nil
}

// CheckCanary reports what is wrong with a VenueConfig.Canary (or
// InverseCanary) setting, for the config's check at start: "", CanaryNone,
// or a comma-separated list of plain instrument ids.
func CheckCanary(cfg string) error {
	_, err := canarySymbols(cfg, nil)
	return err
}

// mustCanary is canarySymbols for the Spec constructors, which have no
// error to return: VenueSpecs has already refused a bad setting, so a bad
// one here (a caller building Specs directly) falls back to the default.
func mustCanary(cfg string, def []string) []string {
	syms, err := canarySymbols(cfg, def)
	if err != nil {
		return def
	}
	return syms
}

// subscribeFrame builds head, each symbol written by arg (comma
// separated), and tail.
func subscribeFrame(head, tail string, syms []string, arg func(dst []byte, sym string) []byte) []byte {
	b := []byte(head)
	for i, s := range syms {
		if i > 0 {
			b = append(b, ',')
		}
		b = arg(b, s)
	}
	return append(b, tail...)
}

func newCanary(syms []string, sub []byte, after time.Duration, match func([]byte) bool) *Canary {
	if len(syms) == 0 {
		return nil
	}
	return &Canary{Symbols: syms, Subscribe: sub, After: after, Match: match}
}

func binanceCanary(o VenueConfig, url string, syms []string) *Canary {
	sub := subscribeFrame(`{"method":"SUBSCRIBE","params":[`, `],"id":1}`, syms, func(b []byte, s string) []byte {
		b = append(b, '"')
		b = append(b, strings.ToLower(s)...)
		return append(b, `@markPrice@1s"`...)
	})
	// A combined stream wraps every push with its stream name, so a canary
	// push starts with one of a few known prefixes (a liquidation's with
	// "!forceOrder@arr"); a raw one with its event type.
	var prefixes [][]byte
	for _, sym := range syms {
		prefixes = append(prefixes, []byte(`{"stream":"`+strings.ToLower(sym)+`@markPrice@1s"`))
	}
	match := func(f []byte) bool {
		for _, p := range prefixes {
			if bytes.HasPrefix(f, p) {
				return true
			}
		}
		return false
	}
	if !strings.Contains(url, "/stream") {
		match = func(f []byte) bool { return bytes.HasPrefix(f, binanceMarkRaw) }
	}
	return newCanary(syms, sub, orDuration(o.CanaryAfter, binanceCanaryAfter), match)
}

func bybitCanary(o VenueConfig, syms []string) *Canary {
	sub := subscribeFrame(`{"op":"subscribe","args":[`, `]}`, syms, func(b []byte, s string) []byte {
		b = append(b, `"tickers.`...)
		b = append(b, s...)
		return append(b, '"')
	})
	return newCanary(syms, sub, orDuration(o.CanaryAfter, bybitCanaryAfter),
		func(f []byte) bool { return bytes.HasPrefix(f, bybitTicker) })
}

func okxCanary(o VenueConfig, syms []string) *Canary {
	sub := subscribeFrame(`{"op":"subscribe","args":[`, `]}`, syms, func(b []byte, s string) []byte {
		b = append(b, `{"channel":"mark-price","instId":"`...)
		b = append(b, s...)
		return append(b, `"}`...)
	})
	return newCanary(syms, sub, orDuration(o.CanaryAfter, okxCanaryAfter),
		func(f []byte) bool { return bytes.HasPrefix(f, okxMarkPrice) })
}

func bitmexCanary(o VenueConfig, syms []string) *Canary {
	sub := subscribeFrame(`{"op":"subscribe","args":[`, `]}`, syms, func(b []byte, s string) []byte {
		b = append(b, `"instrument:`...)
		b = append(b, s...)
		return append(b, '"')
	})
	return newCanary(syms, sub, orDuration(o.CanaryAfter, bitmexCanaryAfter),
		func(f []byte) bool { return bytes.HasPrefix(f, bitmexInstrument) })
}
