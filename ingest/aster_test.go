package ingest

import (
	"testing"

	"github.com/liqbox/liqbox/event"
)

// TestAsterIsBinanceWithItsOwnID: Aster's frames decode with Binance
// USD-M's rules (SELL: a long, base units, ap the price) under Aster's
// venue id, and its canary is the markPrice stream of its own URL.
func TestAsterIsBinanceWithItsOwnID(t *testing.T) {
	line := readLines(t, "frames/aster.jsonl")[0]
	for _, frame := range [][]byte{line, append(append([]byte(`{"stream":"!forceOrder@arr","data":`), line...), '}')} {
		got, err := NewAsterDecoder().Decode(nil, frame, 0)
		if err != nil || len(got) != 1 || got[0].Venue != event.Aster || got[0].Side != event.Long || got[0].Notional != 28448*0.0044461 {
			t.Fatalf("%s: %+v, %v", frame, got, err)
		}
	}
	spec := AsterSpec(VenueConfig{})
	if spec.URL != DefaultAsterURL || spec.Canary == nil || string(spec.Canary.Subscribe) != `{"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s"],"id":1}` ||
		!spec.Canary.Match([]byte(`{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate"}}`)) {
		t.Errorf("spec %+v canary %+v", spec, spec.Canary)
	}
}

func FuzzDecodeAster(f *testing.F) { fuzzDecode(f, event.Aster, "aster") }
