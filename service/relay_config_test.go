package service

import (
	"strings"
	"testing"
	"time"
)

// TestRelayConfig: [relay.holysheep] is off by default with the published
// endpoint; its keys parse through the one key table, a bad one names its
// line, and a box with no venue of its own but the relay is valid.
func TestRelayConfig(t *testing.T) {
	c, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Relay
	if r.Enabled || r.StreamURL != "wss://api.holysheep.ai/v1/ws/stream" || len(r.Exchanges) != 1 || r.Exchanges[0] != "binance" ||
		len(r.Symbols) != 1 || r.Symbols[0] != "ALL" || r.ThresholdUSD != 100000 || r.MatchWindow != 500*time.Millisecond ||
		r.MatchSize != 0.10 || r.MatchAgree != 0.01 || r.Model != "" {
		t.Fatalf("default relay settings %+v", r)
	}
	c, err = LoadConfig(writeConf(t, `[relay.holysheep]
enabled = true
exchanges = binance, bybit okx
symbols = BTCUSDT,ETHUSDT
threshold_usd = 250k
model = gpt-4.1
match_window = 500ms
match_size = 0.05
match_agree = 0.5 %
`))
	if err != nil {
		t.Fatal(err)
	}
	r = c.Relay
	if !r.Enabled || strings.Join(r.Exchanges, "|") != "binance|bybit|okx" || strings.Join(r.Symbols, "|") != "BTCUSDT|ETHUSDT" ||
		r.ThresholdUSD != 250000 || r.Model != "gpt-4.1" || r.MatchWindow != 500*time.Millisecond || r.MatchSize != 0.05 || r.MatchAgree != 0.005 {
		t.Fatalf("relay settings %+v", r)
	}
	relayOnly := "[relay.holysheep]\nenabled = true\n"
	for _, v := range []string{"binance-usdm", "binance-coinm", "bybit", "okx", "bitmex"} {
		relayOnly += "[venue." + v + "]\nenabled = false\n"
	}
	if _, err := LoadConfig(writeConf(t, relayOnly)); err != nil {
		t.Fatalf("a relay-only box: %v", err)
	}
	for _, tc := range []struct{ body, want string }{
		{"[relay.holysheep]\nexchanges = binance, kucoin\n", `:2: relay.holysheep.exchanges: "kucoin" is not an exchange`},
		{"[relay.holysheep]\nstream_url = https://api.holysheep.ai\n", "relay.holysheep.stream_url"},
		{"[relay.holysheep]\nmatch_size = lots\n", `relay.holysheep.match_size: "lots" is not a share`},
		{"[relay.holysheep]\nmatch_agree = 150%\n", "relay.holysheep.match_agree: \"150%\" is outside 0..1"},
		{"[relay.holysheep]\nmatch_window = 5m\n", "relay.holysheep.match_window"},
		{"[relay.holysheep]\nenabled = true\nexchanges =\n", "relay.holysheep.exchanges is empty"},
		{"[relay.holysheep]\nkey = sk-123\n", "relay.holysheep.key: unknown key"},
	} {
		if _, err := LoadConfig(writeConf(t, tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.body, err, tc.want)
		}
	}
	if err := c.Set("relay.holysheep.threshold_usd", "1m"); err != nil || c.Relay.ThresholdUSD != 1e6 {
		t.Fatalf("Set: %v, %v", err, c.Relay.ThresholdUSD)
	}
}

func TestRatioSetting(t *testing.T) {
	for in, want := range map[string]float64{"1%": 0.01, "0.5 %": 0.005, "0.05": 0.05, "0": 0, "100%": 1} {
		if got, err := RatioSetting(in); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%", "-1%", "abc", "NaN", "1e999"} {
		if _, err := RatioSetting(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
