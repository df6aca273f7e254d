// Package embed holds everything the liqbox binary carries with it: the
// commented default configuration, a recorded sample of real liquidations
// for `liqbox demo`, the status page, and instrument metadata snapshots.
package embed

import "embed"

// DefaultConfig is the commented default configuration file, written out
// by `liqbox config init`.
//
//go:embed liqbox.conf
var DefaultConfig []byte

// Demo holds real recorded Binance USD-M liquidations (CSV rows carrying
// every field of the frame's "o" object, four sessions from 2024 and 2025;
// provenance in demo/SOURCES.md). `liqbox demo` rebuilds exchange frames
// from them and plays them at their recorded pace.
//
//go:embed demo/*.csv demo/SOURCES.md
var Demo embed.FS
