package money

import "testing"

func TestParseUSD(t *testing.T) {
	good := map[string]float64{"250k": 250e3, "250000": 250e3, "1.5m": 1.5e6, "$2M": 2e6, "1,000,000": 1e6, "10b": 10e9}
	for in, want := range good {
		if got, ok := ParseUSD(in); !ok || got != want {
			t.Errorf("ParseUSD(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "NaN", "inf", "+Inf", "1e9", "0x10", "11b", "0.5", "k", "$", "1..2", "1k2"} {
		if got, ok := ParseUSD(in); ok {
			t.Errorf("ParseUSD(%q) = %v, accepted", in, got)
		}
	}
}

func TestAppendUSDAndPrice(t *testing.T) {
	for v, want := range map[float64]string{950: "$950", 12_500: "$12.5K", 1_250_000: "$1.25M", 2.1e9: "$2.1B", 1e6: "$1M", -1500: "-$1.5K"} {
		if got := string(AppendUSD(nil, v, "?")); got != want {
			t.Errorf("AppendUSD(%v) = %s, want %s", v, got, want)
		}
	}
	for p, want := range map[float64]string{65432.1: "65432.1", 3000: "3000", 150.25: "150.25", 0.00001234: "0.00001234", 0: "?"} {
		if got := string(AppendPrice(nil, p)); got != want {
			t.Errorf("AppendPrice(%v) = %s, want %s", p, got, want)
		}
	}
}
