package ingest

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
)

// VenueConfig is the per-venue part of the configuration. Zero fields take
// the venue's defaults, so VenueConfig{} connects to the real exchange.
type VenueConfig struct {
	// StreamURL overrides the WebSocket URL. For the venues with two
	// endpoints it is the linear one (Bybit linear, HTX USDT-margined, Gate
	// USDT-settled) and InverseStreamURL the inverse one (Bybit inverse,
	// HTX coin-margined, Gate BTC-settled).
	StreamURL        string
	InverseStreamURL string
	// RESTURL overrides the base URL of the venue's public REST API
	// (instrument metadata), e.g. "https://www.okx.com". RESTOff ("off")
	// never fetches: the embedded snapshot (or the venue's naming rule)
	// is the table, for a box whose egress allows the stream alone.
	RESTURL string
	// Conns is how many redundant connections serve each stream; 0 means
	// DefaultConns(venue).
	Conns int
	// RefreshEvery is the instrument metadata refresh period; 0 means
	// DefaultRefreshEvery.
	RefreshEvery time.Duration
	// StaleAfter overrides the venue's silent-connection threshold; 0 keeps
	// the venue default (which assumes its keepalive is running).
	StaleAfter time.Duration
	// Canary names the instruments of the venue's canary stream (comma
	// separated; for the venues with two endpoints those of the linear
	// one, InverseCanary the inverse one's): "" takes the venue's default
	// (BTCUSDT, BTCUSD_PERP, BTCUSD, BTC-USDT-SWAP and ETH-USDT-SWAP,
	// XBTUSD, HTX BTC-USDT and BTC-USD, Gate BTC_USDT and BTC_USD),
	// CanaryNone disables it. See Canary.
	Canary        string
	InverseCanary string
	// CanaryAfter overrides the venue's canary silence limit; 0 keeps it.
	CanaryAfter time.Duration
	// Snapshots holds the instrument metadata snapshot files
	// (instruments/<name>.json) used until the first REST refresh and
	// whenever it fails; the binary passes embed.Instruments. Nil: no
	// snapshot, sizes that need metadata stay unknown until REST answers.
	Snapshots fs.FS

	HTTPClient *http.Client // REST client; nil: a client with a 30 s timeout
	Logger     *slog.Logger // nil: discard
	Metrics    *metrics.Set // nil: a private set nobody scrapes
}

// DefaultConns is the number of redundant connections per stream when the
// config does not say: two for Binance USD-M, the busiest stream and the one
// whose 24 h cut is certain; one elsewhere.
func DefaultConns(v event.Venue) int {
	if v == event.BinanceUSDM {
		return 2
	}
	return 1
}

// ControlInspector is implemented by decoders that can tell a venue's error
// reply (a rejected subscription, a bad request, a service-upgrade notice)
// from a harmless control frame. The client calls it on frames that decoded
// to no events; it is off the hot path and may allocate the message.
type ControlInspector interface {
	// Control reports whether frame is an error or notice the operator
	// should see, with a short message copied out of the frame.
	Control(frame []byte) (isError bool, msg string)
}

// NewDecoder returns the decoder of venue v reading contract metadata from
// inst (which may be nil for Binance USD-M, Bybit, Bitfinex, Bitget and
// Aster, and for Deribit and Kraken Futures, which then follow their
// naming rules; for the other venues a nil inst leaves every notional
// unknown).
func NewDecoder(v event.Venue, inst *Instruments) (Decoder, error) {
	switch v {
	case event.BinanceUSDM:
		return NewBinanceUSDMDecoder(), nil
	case event.BinanceCOINM:
		return NewBinanceCOINMDecoder(inst), nil
	case event.Bybit:
		return NewBybitDecoder(inst, event.MarketUnknown), nil
	case event.OKX:
		return NewOKXDecoder(inst), nil
	case event.BitMEX:
		return NewBitMEXDecoder(inst), nil
	case event.Deribit:
		return NewDeribitDecoder(inst), nil
	case event.KrakenFutures:
		return NewKrakenFuturesDecoder(inst), nil
	case event.Bitfinex:
		return NewBitfinexDecoder(), nil
	case event.Bitget:
		return NewBitgetDecoder(), nil
	case event.Aster:
		return NewAsterDecoder(), nil
	case event.HTX:
		return NewHTXDecoder(inst, event.MarketUnknown), nil
	case event.Gate:
		return NewGateDecoder(inst, event.MarketUnknown), nil
	}
	return nil, fmt.Errorf("cannot build decoder for venue %q: unknown venue", v)
}

// NewOfflineDecoder returns the decoder of venue v with the instrument
// snapshots in snapshots and no network: what `liqbox decode` uses (with
// embed.Instruments).
func NewOfflineDecoder(v event.Venue, snapshots fs.FS) (Decoder, error) {
	inst, err := NewInstruments(v, VenueConfig{Snapshots: snapshots})
	if err != nil {
		return nil, err
	}
	return NewDecoder(v, inst)
}

// VenueSpecs returns every stream Spec of venue v (Bybit, HTX and Gate
// have two: linear and inverse), decoding with inst. Build inst with NewInstruments(v, o)
// and run inst.Run(ctx) beside the clients to keep it fresh.
func VenueSpecs(v event.Venue, o VenueConfig, inst *Instruments) ([]Spec, error) {
	for _, c := range []string{o.Canary, o.InverseCanary} {
		if _, err := canarySymbols(c, nil); err != nil {
			return nil, fmt.Errorf("cannot build specs for venue %s: %w", v, err)
		}
	}
	switch v {
	case event.BinanceUSDM:
		return []Spec{BinanceUSDMSpec(o)}, nil
	case event.BinanceCOINM:
		return []Spec{BinanceCOINMSpec(o, inst)}, nil
	case event.Bybit:
		return []Spec{BybitSpec(o, inst, event.Linear), BybitSpec(o, inst, event.Inverse)}, nil
	case event.OKX:
		return []Spec{OKXSpec(o, inst)}, nil
	case event.BitMEX:
		return []Spec{BitMEXSpec(o, inst)}, nil
	case event.Deribit:
		return []Spec{DeribitSpec(o, inst)}, nil
	case event.KrakenFutures:
		return []Spec{KrakenFuturesSpec(o, inst)}, nil
	case event.Bitfinex:
		return []Spec{BitfinexSpec(o)}, nil
	case event.Bitget:
		return []Spec{BitgetSpec(o)}, nil
	case event.Aster:
		return []Spec{AsterSpec(o)}, nil
	case event.HTX:
		return []Spec{HTXSpec(o, inst, event.Linear), HTXSpec(o, inst, event.Inverse)}, nil
	case event.Gate:
		return []Spec{GateSpec(o, inst, event.Linear), GateSpec(o, inst, event.Inverse)}, nil
	}
	return nil, fmt.Errorf("cannot build specs for venue %q: unknown venue", v)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// staticFrames returns a Subscribe func that sends the given frames.
func staticFrames(frames ...[]byte) func(context.Context) ([][]byte, error) {
	return func(context.Context) ([][]byte, error) { return frames, nil }
}
