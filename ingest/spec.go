package ingest

import (
	"context"
	"net/http"
	"time"

	"github.com/liqbox/liqbox/event"
)

// Spec says how to hold one liquidation stream of a venue open: where to
// connect, what to send after connecting, how to keep the connection alive
// and when to give up on it. The Client is venue-agnostic; everything that
// differs between exchanges lives in a Spec and its Decoder.
type Spec struct {
	Venue  event.Venue
	Stream string // stable name for metrics and the gap ledger, e.g. "forceOrder@arr"
	URL    string // full WebSocket URL including any stream path or query

	// Header is sent with the WebSocket handshake (Gate's
	// X-Gate-Size-Decimal, a relay's Authorization and X-Model). Nil: none.
	Header http.Header

	// Subscribe returns the text frames to send right after the handshake,
	// in order. It may call the venue's REST API (Bybit needs the symbol
	// list). Nil means the URL alone subscribes.
	Subscribe func(ctx context.Context) ([][]byte, error)

	// Ping is an application-level keepalive text frame sent every
	// PingEvery (Bybit {"op":"ping"}, OKX "ping"). Nil: the venue pings us
	// with WebSocket control frames instead (Binance), which are answered.
	Ping      []byte
	PingEvery time.Duration
	// IsPong recognises the venue's reply to Ping, so the keepalive
	// round-trip can be measured. Optional.
	IsPong func(frame []byte) bool

	// Inflate, when set, makes the decompressor of one connection: every
	// binary frame is inflated with it before anything else (canary test,
	// keepalive, decoder) sees it (HTX gzips every frame). Text frames pass
	// as they are.
	Inflate func() Inflater

	// StaleAfter: a connection that delivers no frame of any kind (data,
	// keepalive reply, control) for this long is dead and is replaced.
	// Liquidation streams are quiet for minutes, so this must be longer than
	// the venue's keepalive period, not a guess at the liquidation rate.
	StaleAfter time.Duration
	// MaxLifetime: the connection is rotated (make-before-break) after this
	// long, before the venue's own cut (Binance: 24 h).
	MaxLifetime time.Duration
	// BacklogWindow: events that arrive within this long after subscribing
	// and are older than the subscription are flagged event.FlagBacklog
	// (logged, not alerted). Zero disables it.
	BacklogWindow time.Duration
	// Canary, when set, is a steady public stream subscribed on the same
	// connection; its silence means the subscription is dead. Nil: the
	// venue offers none, and only StaleAfter guards the connection.
	Canary *Canary
	// RecvTime: the venue's liquidations carry no time of their own, so
	// events get the receive time and two connections' copies of one
	// liquidation differ; redundant connections are not compared.
	RecvTime bool

	// Respond, when set, is asked about every frame that is not a canary
	// or a pong, before it is decoded, whether it is a control message
	// that asks something of the connection. It is the one place for all
	// of a venue's demands: an answer that must go back at once or the
	// venue cuts the connection (HTX's {"op":"ping","ts":…} every 5 s gets
	// its pong, Deribit's test_request gets public/test), or a request for
	// a new connection (Bitfinex's info 20051, server restart, and 20061,
	// maintenance over: resubscribe), which ends the connection with
	// CauseVenueRequest, or the notice of a cut to come (OKX's 64008),
	// which rotates it. An answer is appended to dst, a buffer the
	// connection reuses, so answering allocates nothing. A frame answered
	// or asking for a new connection is not decoded.
	//
	// It runs on the reader goroutine for every data frame, so it must
	// reject a liquidation with a cheap byte test (length, prefix) and
	// allocate nothing. Nil: the venue asks nothing of the connection, or
	// pings with WebSocket control frames, which the client answers.
	Respond func(dst, frame []byte) (reply []byte, r Response)

	Decoder Decoder
	// NewConnDecoder, when set, builds a decoder for each connection, for a
	// venue whose frames refer to what the connection's own replies set up
	// (Bitfinex numbers its channels per connection). Decoder still serves
	// what is not tied to a connection: `liqbox decode` and its
	// ControlInspector.
	NewConnDecoder func() Decoder

	// Secret is what the peer must never see logged back: the relay's
	// API key. Frame bytes the stream logs (a bad frame's first bytes, a
	// peer's error message) have it masked. Empty for the venues.
	Secret string
	// ConnBase is the first event.Event.Conn of the stream's connections:
	// 0 for a venue's own feed, event.ConnRelay for a relay, so that every
	// event says which source delivered it.
	ConnBase uint8
}

// Canary is a steady public stream of one or two liquid instruments
// (Binance markPrice@1s, Bybit tickers, OKX mark-price, BitMEX instrument)
// that a Stream subscribes to beside the liquidations, on the same
// connection and endpoint. Liquidations may be quiet for minutes, so their
// absence proves nothing; a canary that stops for After means the
// subscription is dead although the connection answers pings: the
// connection is replaced and the time since the last canary (or
// liquidation) counts as a gap with cause "stale".
//
// Canary frames are recognised by Match before decoding and dropped: they
// never become events. A connection counts as live (ending a gap,
// resetting the backoff) only once a canary frame or a liquidation arrived.
type Canary struct {
	Symbols []string // the instruments, as the venue names them
	// Subscribe is the text frame that subscribes to the canary, sent after
	// the Spec's own; nil when the URL already subscribes.
	Subscribe []byte
	// After is the silence limit: several times the stream's cadence.
	After time.Duration
	// Match reports whether frame is a canary push. It runs on every frame
	// before decoding, so it must be a cheap byte test that allocates
	// nothing.
	Match func(frame []byte) bool
}

// Response is what a control message asks of the connection (Spec.Respond).
type Response uint8

const (
	// NoResponse: the frame asks nothing; it is decoded as any other.
	NoResponse Response = iota
	// Reply: send the reply back now. The reader writes it itself rather
	// than hand it to another goroutine: it is due at once, it is a few
	// dozen bytes a healthy socket takes without waiting, the write
	// deadline bounds the wait on a failing one, and the reused buffer
	// needs no copy.
	Reply
	// Reconnect: the venue asked for a new connection. It is replaced at
	// once and the short gap has cause CauseVenueRequest.
	Reconnect
	// Rotate: the venue announced that it will close this connection
	// soon (OKX's 64008 service-upgrade notice, 30 s ahead). A replacement
	// is brought up beside it and takes over before the cut, as before a
	// planned one (Spec.MaxLifetime): no blind moment.
	Rotate
)
