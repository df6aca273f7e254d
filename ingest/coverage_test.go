package ingest

import (
	"testing"

	"github.com/liqbox/liqbox/event"
)

// TestCoverageOf pins each venue's label to what PROTOCOLS.md section 14
// quotes the venue as saying.
func TestCoverageOf(t *testing.T) {
	want := map[event.Venue]Coverage{
		event.BinanceUSDM: CoverageSampled, event.BinanceCOINM: CoverageSampled, event.OKX: CoverageSampled,
		event.Bitget: CoverageSampled, event.Aster: CoverageSampled,
		event.Bybit: CoverageComplete, event.KrakenFutures: CoverageComplete, event.Deribit: CoverageComplete,
		event.BitMEX: CoverageUndocumented, event.Bitfinex: CoverageUndocumented,
	}
	for v, c := range want {
		if got := CoverageOf(v); got.Coverage != c || got.Rule == "" {
			t.Errorf("%s: %s %q, want %s with its rule", v, got.Coverage, got.Rule, c)
		}
	}
}
