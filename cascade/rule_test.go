package cascade

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/asset"
)

func name(s string) asset.Name {
	a, ok := asset.Parse(s)
	if !ok {
		panic(s)
	}
	return a
}

func TestParseArgs(t *testing.T) {
	cases := []struct {
		in   string
		want Rule
	}{
		{"BTC 10M 5m", Rule{Asset: name("BTC"), USD: 10e6, Window: 5 * time.Minute, Sides: Both}},
		// The amount comes first: 10m is ten million, 5m five minutes.
		{"btc 10m 5m", Rule{Asset: name("BTC"), USD: 10e6, Window: 5 * time.Minute, Sides: Both}},
		{"all 50M 15m long", Rule{USD: 50e6, Window: 15 * time.Minute, Sides: Longs}},
		{"ALL $50M 15m shorts", Rule{USD: 50e6, Window: 15 * time.Minute, Sides: Shorts}},
		{"XBT 2.5m 1h both", Rule{Asset: name("BTC"), USD: 2.5e6, Window: time.Hour, Sides: Both}},
		{"BTCUSDT 10k 1m", Rule{Asset: name("BTC"), USD: 10e3, Window: time.Minute, Sides: Both}},
		{"eth 1,000,000 90s", Rule{Asset: name("ETH"), USD: 1e6, Window: 90 * time.Second, Sides: Both}},
		{"1000PEPE 500k 1d", Rule{Asset: name("PEPE"), USD: 500e3, Window: 24 * time.Hour, Sides: Both}},
		{"SOL 1M 1h30m", Rule{Asset: name("SOL"), USD: 1e6, Window: 90 * time.Minute, Sides: Both}},
	}
	for _, c := range cases {
		got, err := ParseArgs(strings.Fields(c.in))
		if err != nil || got != c.want {
			t.Errorf("ParseArgs(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{
		"", "BTC", "BTC 10M", "BTC 10M 5m long extra",
		"BTC 9k 5m",      // under $10K
		"BTC 10M 30s",    // under a minute
		"BTC 10M 25h",    // over a day
		"BTC 10M 2d",     // over a day
		"BTC 10M 1500ms", // not whole seconds, and short
		"BTC 10M 5x", "BTC ten 5m", "BTC -1M 5m", "BTC NaN 5m", "BTC inf 5m", "BTC 20B 5m",
		"BTC 10M 5m sideways", "<b> 10M 5m", "B$C 10M 5m",
		"5m 10M BTC", // the window first is refused, not guessed
	} {
		if r, err := ParseArgs(strings.Fields(bad)); err == nil || !errors.Is(err, ErrBadRule) {
			t.Errorf("ParseArgs(%q) = %+v, %v; want ErrBadRule", bad, r, err)
		}
	}
}

func TestParseSpecAndString(t *testing.T) {
	for in, want := range map[string]string{
		"BTC:10M:5m":          "BTC:10M:5m:both",
		"all:50M:15m:long":    "all:50M:15m:long",
		"eth:250k:1h:short":   "ETH:250K:1h:short",
		"SOL:1.5m:1h30m":      "SOL:1.5M:1h30m:both",
		"DOGE:10k:90s:shorts": "DOGE:10K:90s:short",
	} {
		r, err := ParseSpec(in)
		if err != nil {
			t.Fatalf("ParseSpec(%q): %v", in, err)
		}
		if got := r.String(); got != want {
			t.Errorf("ParseSpec(%q).String() = %q, want %q", in, got, want)
		}
		back, err := ParseSpec(r.String())
		if err != nil || back != r {
			t.Errorf("round trip of %q: %+v, %v", in, back, err)
		}
	}
	if _, err := ParseSpec("BTC:10M"); err == nil || !strings.Contains(err.Error(), "ASSET:USD:WINDOW") {
		t.Errorf("ParseSpec(BTC:10M) = %v, want the spec's usage", err)
	}
}

func TestQuiet(t *testing.T) {
	for w, want := range map[time.Duration]time.Duration{time.Minute: time.Minute, 5 * time.Minute: 5 * time.Minute,
		time.Hour: QuietMax, 24 * time.Hour: QuietMax} {
		if got := (Rule{Window: w}).Quiet(); got != want {
			t.Errorf("Quiet of a %v window = %v, want %v", w, got, want)
		}
	}
}
