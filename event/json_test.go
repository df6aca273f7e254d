package event_test

import (
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/event/eventtest"
)

// TestAppendJSONHostile: every event a log can hold gives one valid JSON
// object with no byte a terminal acts on, and notional_usd is null exactly
// when notional_basis is "unknown".
func TestAppendJSONHostile(t *testing.T) {
	for _, ev := range eventtest.Hostile() {
		b := ev.AppendJSON(nil)
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil || !utf8.Valid(b) {
			t.Errorf("%q (notional %v, price %v, qty %v): invalid JSON: %v", b, ev.Notional, ev.Price, ev.Qty, err)
			continue
		}
		if (got["notional_usd"] == nil) != (got["notional_basis"] == "unknown") {
			t.Errorf("%s: notional_usd %v with notional_basis %v", b, got["notional_usd"], got["notional_basis"])
		}
		if i := eventtest.TerminalSafe(b); i >= 0 {
			t.Errorf("%q: byte %#x at %d reaches a terminal", b, b[i], i)
		}
	}
}

func TestNotionalKnownIsFinite(t *testing.T) {
	for _, n := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1} {
		ev := event.Event{Basis: event.BasisLinear, Notional: n}
		if ev.NotionalKnown() || ev.NotionalBasis() != event.BasisUnknown {
			t.Errorf("notional %v is known (basis %v)", n, ev.NotionalBasis())
		}
	}
	ev := event.Event{Basis: event.BasisLinear, Notional: 0}
	if !ev.NotionalKnown() || ev.NotionalBasis() != event.BasisLinear {
		t.Error("a zero notional with a basis is a known figure")
	}
}
