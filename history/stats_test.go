package history

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

func statsEvent(v event.Venue, sym string, usd float64, at time.Time) *event.Event {
	return &event.Event{Venue: v, Side: event.Long, Symbol: event.MakeSymbol(sym), Basis: event.BasisLinear,
		Price: 100, Qty: usd / 100, Notional: usd, RecvNs: at.UnixNano(), TimeMs: at.UnixMilli()}
}

// TestStatsCoverage: `liqbox stats` says per venue whether its figures are
// complete or a lower bound, over the span of its events in the window (a
// Gate log of before its 2026-08-20 change is sampled, one straddling it
// is a lower bound in part), and whether the totals are.
func TestStatsCoverage(t *testing.T) {
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 12, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		name     string
		events   []*event.Event
		gate     event.Coverage
		gateRule string
		sum      string
	}{
		{"gate before its change", []*event.Event{statsEvent(event.Gate, "BTC_USDT", 1e5, day(8, 1)), statsEvent(event.Bybit, "BTCUSDT", 2e5, day(8, 2))},
			event.CoverageSampled, "Gate sent at most 1 liquidation per contract per second before 2026-08-20",
			"totals are a lower bound: gate sends only some liquidations"},
		{"gate straddling its change", []*event.Event{statsEvent(event.Gate, "BTC_USDT", 1e5, day(8, 19)), statsEvent(event.Gate, "BTC_USDT", 1e5, day(8, 21)),
			statsEvent(event.Bybit, "BTCUSDT", 2e5, day(8, 2))},
			event.CoverageSampled, "the part of this period before the change is a lower bound",
			"totals are a lower bound: gate sends only some liquidations"},
		{"gate after its change", []*event.Event{statsEvent(event.Gate, "BTC_USDT", 1e5, day(9, 1)), statsEvent(event.Bybit, "BTCUSDT", 2e5, day(9, 2))},
			event.CoverageComplete, "Gate says it sends every liquidation since 2026-08-20",
			"totals are complete: every venue in them sends every liquidation"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewStats(10)
			for _, ev := range c.events {
				s.Add(ev)
			}
			g, ok := s.VenueCoverage(event.Gate)
			if !ok || g.Coverage != c.gate || !strings.Contains(g.Rule, c.gateRule) {
				t.Errorf("gate: %v %s %q, want %s with %q", ok, g.Coverage, g.Rule, c.gate, c.gateRule)
			}
			if _, ok := s.VenueCoverage(event.OKX); ok {
				t.Error("okx has a coverage without an event")
			}
			if got := s.Coverage().Text("en"); got != c.sum {
				t.Errorf("sum %q, want %q", got, c.sum)
			}
			var out bytes.Buffer
			if err := s.Write(&out, &Query{}); err != nil {
				t.Fatal(err)
			}
			// Columns are compared with their padding collapsed.
			got := spaces.ReplaceAllString(out.String(), " ")
			label, n := c.gate.Label("en"), strings.Count(c.name, "straddling")+1
			for _, w := range []string{"complete? " + c.sum + "\n", fmt.Sprintf("gate %d $%dK %s\n", n, 100*n, label),
				"bybit 1 $200K complete\n", "what each venue's figures are:\n",
				"gate " + label + ": " + g.Rule + "\n", "bybit complete: Bybit says it sends every liquidation, in 500 ms batches\n"} {
				if !strings.Contains(got, w) {
					t.Errorf("stats lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

var spaces = regexp.MustCompile(` +`)
