package cascade

import (
	"strings"
	"testing"
)

// FuzzParseSpec: whatever a user types, the parser refuses it or returns a
// rule within the limits whose String reads back as the same rule.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"BTC:10M:5m", "all:50M:15m:long", "eth:250k:1h:short", "SOL:1.5m:1h30m", "XBT:$2M:1d",
		"1000PEPE:10k:90s", "BTC:10M", "BTC:1e9:5m", "BTC:10M:5m:sideways", "币安人生:10k:1m", "::::", "all:NaN:5m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseSpec(s)
		if err != nil {
			return
		}
		if r.USD < MinUSD || r.Window < MinWindow || r.Window > MaxWindow || (r.Sides != Longs && r.Sides != Shorts && r.Sides != Both) {
			t.Fatalf("ParseSpec(%q) = %+v: outside the limits", s, r)
		}
		back, err := ParseSpec(r.String())
		if err != nil {
			t.Fatalf("ParseSpec(%q).String() = %q does not parse: %v", s, r.String(), err)
		}
		// The amount is written with at most two decimals: the same rule
		// up to that rounding.
		if back.Asset != r.Asset || back.Window != r.Window || back.Sides != r.Sides || !strings.Contains(r.String(), ":") {
			t.Fatalf("ParseSpec(%q) = %+v, round trip %+v", s, r, back)
		}
	})
}
