package embed

import "embed"

// Instruments holds the instrument metadata snapshots under instruments/
// (Binance COIN-M contract sizes, OKX ctVal/ctMult, BitMEX multipliers),
// copied from shared/testdata/instruments with their provenance in
// instruments/SOURCES.md. ingest falls back to them when a venue's REST
// endpoint cannot be reached, and `liqbox decode` uses them offline.
//
//go:embed instruments
var Instruments embed.FS
