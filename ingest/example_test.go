package ingest_test

import (
	"fmt"
	"os"

	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
)

// A Bybit allLiquidation frame: Buy is the liquidated position's side, so
// this is a long; linear notional is v × p.
func ExampleNewOfflineDecoder() {
	d, err := ingest.NewOfflineDecoder(event.Bybit, embed.Instruments)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	frame := []byte(`{"topic":"allLiquidation.AVAXUSDT","type":"snapshot","ts":1791594535432,"data":[{"T":1791594534957,"s":"AVAXUSDT","S":"Buy","v":"12.3","p":"10.284"}]}`)
	evs, err := d.Decode(make([]event.Event, 0, 8), frame, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for i := range evs {
		fmt.Println(string(evs[i].AppendJSON(nil)))
	}
	// Output:
	// {"venue":"bybit","symbol":"AVAXUSDT","side":"long","price":10.284,"qty":12.3,"notional_usd":126.4932,"notional_basis":"linear","time_ms":1791594534957}
}
