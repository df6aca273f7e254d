package ingesttest

import (
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// VenuePath is the URL path venue v serves its public stream on, as the
// real one does.
func VenuePath(v event.Venue) string {
	switch v {
	case event.BinanceUSDM:
		return "/market/stream"
	case event.BinanceCOINM:
		return "/stream"
	case event.Bybit:
		return "/v5/public/linear"
	case event.OKX:
		return "/ws/v5/public"
	case event.BitMEX:
		return "/realtime"
	}
	return "/"
}

// NewVenue starts a Loopback that speaks venue v's control protocol: its
// path (unless o.Path is set), its acknowledgements and keepalive answers
// (unless o.OnMessage is set) and, for Binance, server pings every 30 s
// (unless o.PingEvery is set).
func NewVenue(v event.Venue, o LoopbackOptions) (*Loopback, error) {
	if o.Path == "" {
		o.Path = VenuePath(v)
	}
	if o.OnMessage == nil {
		o.OnMessage = VenueAnswer(v)
	}
	if o.PingEvery == 0 && (v == event.BinanceUSDM || v == event.BinanceCOINM) {
		o.PingEvery = 30 * time.Second
	}
	return NewLoopback(o)
}

// VenueAnswer returns venue v's replies to what a client sends: Binance
// acknowledges SUBSCRIBE with {"result":null,"id":N}; Bybit answers
// {"op":"ping"} with its pong (whose op stays "ping") and acknowledges
// subscriptions; OKX and BitMEX answer the text "ping" with "pong" and
// acknowledge each subscription.
func VenueAnswer(v event.Venue) func(msg []byte) [][]byte {
	switch v {
	case event.BinanceUSDM, event.BinanceCOINM:
		return binanceAnswer
	case event.Bybit:
		return bybitAnswer
	case event.OKX:
		return okxAnswer
	case event.BitMEX:
		return bitmexAnswer
	}
	return nil
}

func binanceAnswer(msg []byte) [][]byte {
	switch gjson.GetBytes(msg, "method").String() {
	case "SUBSCRIBE", "UNSUBSCRIBE":
		id := gjson.GetBytes(msg, "id")
		if id.Type != gjson.Number {
			return [][]byte{[]byte(`{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"}`)}
		}
		return [][]byte{[]byte(`{"result":null,"id":` + id.Raw + `}`)}
	}
	return nil
}

func bybitAnswer(msg []byte) [][]byte {
	switch gjson.GetBytes(msg, "op").String() {
	case "ping":
		return [][]byte{[]byte(`{"success":true,"ret_msg":"pong","conn_id":"loopback","req_id":"","op":"ping"}`)}
	case "subscribe":
		return [][]byte{[]byte(`{"success":true,"ret_msg":"","conn_id":"loopback","req_id":"","op":"subscribe"}`)}
	}
	return nil
}

func okxAnswer(msg []byte) [][]byte {
	return pongAndAck(msg, func(arg string) string { return `{"event":"subscribe","arg":` + arg + `,"connId":"loopback"}` })
}

func bitmexAnswer(msg []byte) [][]byte {
	return pongAndAck(msg, func(arg string) string {
		return `{"success":true,"subscribe":` + arg + `,"request":` + string(msg) + `}`
	})
}

// pongAndAck answers the text "ping" with "pong" and each argument of an
// {"op":"subscribe","args":[…]} request with ack(the argument's JSON).
func pongAndAck(msg []byte, ack func(arg string) string) [][]byte {
	if string(msg) == "ping" {
		return [][]byte{[]byte("pong")}
	}
	if gjson.GetBytes(msg, "op").String() != "subscribe" {
		return nil
	}
	var out [][]byte
	gjson.GetBytes(msg, "args").ForEach(func(_, a gjson.Result) bool {
		out = append(out, []byte(ack(a.Raw)))
		return true
	})
	return out
}

// canarySub is one canary stream a client subscribed to.
type canarySub struct {
	every time.Duration // the venue's own push cadence
	frame func(now time.Time) []byte
}

func binanceCanary(stream string, combined bool) (canarySub, bool) {
	sym, ok := strings.CutSuffix(stream, "@markPrice@1s")
	every := time.Second
	if !ok {
		if sym, ok = strings.CutSuffix(stream, "@markPrice"); !ok {
			return canarySub{}, false
		}
		every = 3 * time.Second
	}
	sym = strings.ToUpper(sym)
	return canarySub{every: every, frame: func(now time.Time) []byte {
		return AppendBinanceMarkPrice(nil, sym, combined, now.UnixMilli())
	}}, true
}

// canariesIn recognises subscriptions to any venue's canary stream in one
// client message.
func canariesIn(msg []byte, combined bool) []canarySub {
	if !gjson.ValidBytes(msg) {
		return nil
	}
	var out []canarySub
	if gjson.GetBytes(msg, "method").String() == "SUBSCRIBE" {
		gjson.GetBytes(msg, "params").ForEach(func(_, p gjson.Result) bool {
			if c, ok := binanceCanary(p.String(), combined); ok {
				out = append(out, c)
			}
			return true
		})
		return out
	}
	if gjson.GetBytes(msg, "op").String() != "subscribe" {
		return nil
	}
	gjson.GetBytes(msg, "args").ForEach(func(_, a gjson.Result) bool {
		if a.IsObject() {
			if a.Get("channel").String() == "mark-price" {
				id := a.Get("instId").String()
				out = append(out, canarySub{every: 200 * time.Millisecond, frame: func(now time.Time) []byte {
					return AppendOKXMarkPrice(nil, id, now.UnixMilli())
				}})
			}
			return true
		}
		s := a.String()
		if sym, ok := strings.CutPrefix(s, "tickers."); ok {
			out = append(out, canarySub{every: 100 * time.Millisecond, frame: func(now time.Time) []byte {
				return AppendBybitTicker(nil, sym, now.UnixMilli())
			}})
		} else if sym, ok := strings.CutPrefix(s, "instrument:"); ok {
			out = append(out, bitmexCanary(sym))
		}
		return true
	})
	return out
}

func bitmexCanary(sym string) canarySub {
	return canarySub{every: time.Second, frame: func(now time.Time) []byte {
		return AppendBitMEXInstrument(nil, sym, now.UnixMilli())
	}}
}

// canariesInURL recognises canary streams subscribed in the URL: Binance
// `streams=a/b` and BitMEX `subscribe=a,b`.
func canariesInURL(u *url.URL) []canarySub {
	var out []canarySub
	q := u.Query()
	if s := q.Get("streams"); s != "" {
		for _, st := range strings.Split(s, "/") {
			if c, ok := binanceCanary(st, true); ok {
				out = append(out, c)
			}
		}
	}
	if s := q.Get("subscribe"); s != "" {
		for _, st := range strings.Split(s, ",") {
			if sym, ok := strings.CutPrefix(st, "instrument:"); ok {
				out = append(out, bitmexCanary(sym))
			}
		}
	}
	return out
}

// combinedPath reports whether a Binance client connected in combined
// mode (/stream), where every push is wrapped {"stream":…,"data":…}.
func combinedPath(path string) bool {
	return strings.HasSuffix(path, "/stream") || strings.Contains(path, "/stream/")
}
