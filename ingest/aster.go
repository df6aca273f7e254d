package ingest

import (
	"time"

	"github.com/liqbox/liqbox/event"
)

// DefaultAsterURL is Aster's combined stream of all liquidations. Aster's
// futures API is Binance's USD-M API on its own host (no /market routing).
const DefaultAsterURL = "wss://fstream.asterdex.com/stream?streams=!forceOrder@arr"

// asterStaleAfter: Aster's server pings every 5 minutes (Binance's every 3)
// and closes after 15 minutes without a pong; two minutes of slack.
const asterStaleAfter = 7 * time.Minute

// NewAsterDecoder returns the decoder of Aster's `forceOrder` frames:
// Binance USD-M's payload field for field (S=SELL: a long liquidated, q in
// base units, ap or p the price, o.T the time), so it is Binance's decoder
// with Aster's venue id.
func NewAsterDecoder() *BinanceDecoder {
	return &BinanceDecoder{venue: event.Aster}
}

// AsterSpec returns the Spec of Aster's all-market liquidation stream. Like
// Binance, Aster pings with WebSocket control frames and cuts a connection
// at 24 h; its canary is the same `<symbol>@markPrice@1s` stream, which
// Aster documents with the same name, cadence and SUBSCRIBE request.
func AsterSpec(o VenueConfig) Spec {
	url := orDefault(o.StreamURL, DefaultAsterURL)
	return Spec{
		Venue:       event.Aster,
		Stream:      "!forceOrder@arr",
		URL:         url,
		StaleAfter:  orDuration(o.StaleAfter, asterStaleAfter),
		MaxLifetime: binanceMaxLifetime,
		Canary:      binanceCanary(o, url, mustCanary(o.Canary, defaultCanary["aster"])),
		Decoder:     NewAsterDecoder(),
	}
}
