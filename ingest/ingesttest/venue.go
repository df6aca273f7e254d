package ingesttest

import (
	"net/url"
	"strconv"
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
	case event.Deribit:
		return "/ws/api/v2"
	case event.KrakenFutures:
		return "/ws/v1"
	case event.Bitfinex:
		return "/ws/2"
	case event.Bitget:
		return "/v3/ws/public"
	case event.Aster:
		return "/stream"
	case event.HTX:
		return "/linear-swap-notification"
	case event.Gate:
		return "/v4/ws/usdt"
	}
	return "/"
}

// InversePath is the URL path of the inverse endpoint of a venue that has
// two (Bybit inverse, HTX coin-margined, Gate BTC-settled), "" for the
// others.
func InversePath(v event.Venue) string {
	switch v {
	case event.Bybit:
		return "/v5/public/inverse"
	case event.HTX:
		return "/swap-notification"
	case event.Gate:
		return "/v4/ws/btc"
	}
	return ""
}

// NewVenue starts a Loopback that speaks venue v's control protocol: its
// path (unless o.Path is set; InversePath(v) for the inverse endpoint),
// its acknowledgements and keepalive answers (unless o.OnMessage is set)
// and, for Binance, server pings every 30 s (unless o.PingEvery is set).
// HTX's loopback gzips every frame and sends HTX's heartbeat every 5 s
// (unless o.HeartbeatEvery is set; negative: none), cutting off a client that leaves five
// unanswered with {"op":"close"}, as HTX does; Gate's pings at the
// protocol layer every 10 s; Bitfinex's sends its channel heartbeat every
// 15 s (unless o.HeartbeatEvery is set; negative: none).
func NewVenue(v event.Venue, o LoopbackOptions) (*Loopback, error) {
	if o.Path == "" {
		o.Path = VenuePath(v)
	}
	if o.OnMessage == nil {
		o.OnMessage = VenueAnswer(v)
	}
	switch v {
	case event.BinanceUSDM, event.BinanceCOINM, event.Aster:
		if o.PingEvery == 0 {
			o.PingEvery = 30 * time.Second
		}
	case event.HTX:
		o.Gzip = true
		if o.HeartbeatEvery == 0 {
			o.HeartbeatEvery = 5 * time.Second
		}
		if o.Heartbeat == nil {
			o.Heartbeat = func(now time.Time) []byte { return AppendHTXPing(nil, now.UnixMilli()) }
			o.IsHeartbeatReply = isHTXPong
			o.HeartbeatMisses = 5
			o.Farewell = []byte(`{"op":"close","ts":0}`)
		}
	case event.Gate:
		if o.PingEvery == 0 {
			o.PingEvery = 10 * time.Second
		}
	case event.Bitfinex:
		// Bitfinex sends [chanId,"hb"] on a channel silent for 15 s and
		// expects no answer: on a quiet feed it is all the client hears.
		if o.HeartbeatEvery == 0 {
			o.HeartbeatEvery = 15 * time.Second
		}
		if o.Heartbeat == nil {
			o.Heartbeat = func(time.Time) []byte { return bitfinexHeartbeat }
		}
	}
	return NewLoopback(o)
}

// bitfinexHeartbeat is the liq:global channel's heartbeat.
var bitfinexHeartbeat = []byte("[" + strconv.Itoa(BitfinexChanID) + `,"hb"]`)

// isHTXPong recognises the answer to HTX's heartbeat: {"op":"pong"} with a
// ts of digits, quoted as the ping's was.
func isHTXPong(msg []byte) bool {
	if gjson.GetBytes(msg, "op").String() != "pong" {
		return false
	}
	ts := gjson.GetBytes(msg, "ts")
	return ts.Type == gjson.String && ts.Str != "" && strings.Trim(ts.Str, "0123456789") == ""
}

// VenueAnswer returns venue v's replies to what a client sends: Binance
// acknowledges SUBSCRIBE with {"result":null,"id":N}; Bybit answers
// {"op":"ping"} with its pong (whose op stays "ping") and acknowledges
// subscriptions; OKX and BitMEX answer the text "ping" with "pong" and
// acknowledge each subscription; HTX acknowledges sub with err-code 0;
// Gate acknowledges subscriptions and answers futures.ping.
func VenueAnswer(v event.Venue) func(msg []byte) [][]byte {
	switch v {
	case event.BinanceUSDM, event.BinanceCOINM, event.Aster:
		return binanceAnswer
	case event.Deribit:
		return deribitAnswer
	case event.KrakenFutures:
		return krakenAnswer
	case event.Bitfinex:
		return bitfinexAnswer
	case event.Bitget:
		return bitgetAnswer
	case event.Bybit:
		return bybitAnswer
	case event.OKX:
		return okxAnswer
	case event.BitMEX:
		return bitmexAnswer
	case event.HTX:
		return htxAnswer
	case event.Gate:
		return gateAnswer
	}
	return nil
}

// htxAnswer acknowledges each sub and unsub request as HTX does, echoing
// its cid and topic with err-code 0; the heartbeat's answers get nothing.
func htxAnswer(msg []byte) [][]byte {
	switch op := gjson.GetBytes(msg, "op").String(); op {
	case "sub", "unsub":
		topic := gjson.GetBytes(msg, "topic")
		cid := gjson.GetBytes(msg, "cid")
		if topic.Type != gjson.String {
			return [][]byte{[]byte(`{"op":"` + op + `","ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"err-code":2002,"err-msg":"invalid topic"}`)}
		}
		return [][]byte{[]byte(`{"op":"` + op + `","cid":` + orRaw(cid, `""`) + `,"topic":` + topic.Raw + `,"ts":` +
			strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"err-code":0}`)}
	}
	return nil
}

// gateAnswer acknowledges subscriptions with Gate's
// {"result":{"status":"success"}} and answers futures.ping with
// futures.pong.
func gateAnswer(msg []byte) [][]byte {
	now := time.Now()
	head := `{"time":` + strconv.FormatInt(now.Unix(), 10) + `,"time_ms":` + strconv.FormatInt(now.UnixMilli(), 10)
	channel := gjson.GetBytes(msg, "channel")
	switch {
	case channel.String() == "futures.ping":
		return [][]byte{[]byte(head + `,"channel":"futures.pong","event":"","result":null}`)}
	case channel.Type != gjson.String:
		return nil
	}
	switch ev := gjson.GetBytes(msg, "event").String(); ev {
	case "subscribe", "unsubscribe":
		return [][]byte{[]byte(head + `,"channel":` + channel.Raw + `,"event":"` + ev + `","result":{"status":"success"}}`)}
	}
	return nil
}

func orRaw(r gjson.Result, def string) string {
	if r.Exists() {
		return r.Raw
	}
	return def
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

// deribitAnswer answers Deribit's JSON-RPC requests: public/subscribe with
// the channels, public/set_heartbeat with "ok" and at once a test_request
// (which the client must answer with public/test), public/test with the
// version.
func deribitAnswer(msg []byte) [][]byte {
	id := gjson.GetBytes(msg, "id").Raw
	if id == "" {
		id = "null"
	}
	head := `{"jsonrpc":"2.0","id":` + id + `,"result":`
	switch gjson.GetBytes(msg, "method").String() {
	case "public/subscribe":
		return [][]byte{[]byte(head + gjson.GetBytes(msg, "params.channels").Raw + `}`)}
	case "public/set_heartbeat":
		return [][]byte{[]byte(head + `"ok"}`), DeribitTestRequest}
	case "public/test":
		return [][]byte{[]byte(head + `{"version":"1.2.26"}}`)}
	}
	return nil
}

// DeribitTestRequest is the heartbeat message with which Deribit asks for
// a public/test.
var DeribitTestRequest = []byte(`{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}`)

// krakenAnswer acknowledges Kraken Futures subscriptions, echoing feed and
// product_ids.
func krakenAnswer(msg []byte) [][]byte {
	if gjson.GetBytes(msg, "event").String() != "subscribe" {
		return nil
	}
	ack := `{"event":"subscribed","feed":` + gjson.GetBytes(msg, "feed").Raw
	if p := gjson.GetBytes(msg, "product_ids"); p.Exists() {
		ack += `,"product_ids":` + p.Raw
	}
	return [][]byte{[]byte(ack + `}`)}
}

// bitfinexAnswer acknowledges the liq:global subscription with
// BitfinexChanID and answers {"event":"ping"} with a pong.
func bitfinexAnswer(msg []byte) [][]byte {
	switch gjson.GetBytes(msg, "event").String() {
	case "subscribe":
		return [][]byte{[]byte(`{"event":"subscribed","channel":` + gjson.GetBytes(msg, "channel").Raw +
			`,"chanId":` + strconv.Itoa(BitfinexChanID) + `,"key":` + gjson.GetBytes(msg, "key").Raw + `}`)}
	case "ping":
		return [][]byte{[]byte(`{"event":"pong","ts":1511545528111,"cid":` + gjson.GetBytes(msg, "cid").Raw + `}`)}
	}
	return nil
}

// bitgetAnswer answers the text "ping" with "pong" and acknowledges each
// subscription argument.
func bitgetAnswer(msg []byte) [][]byte {
	return pongAndAck(msg, func(arg string) string { return `{"event":"subscribe","arg":` + arg + `,"connId":"loopback"}` })
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

// bitmexCanary pushes BitMEX's instrument table of sym once a second.
func bitmexCanary(sym string) canarySub {
	return canarySub{every: time.Second, frame: func(now time.Time) []byte {
		return AppendBitMEXInstrument(nil, sym, now.UnixMilli())
	}}
}

// canariesIn recognises subscriptions to any venue's canary stream in one
// client message.
func canariesIn(msg []byte, combined bool) []canarySub {
	if !gjson.ValidBytes(msg) {
		return nil
	}
	var out []canarySub
	switch gjson.GetBytes(msg, "method").String() {
	case "public/subscribe": // Deribit
		gjson.GetBytes(msg, "params.channels").ForEach(func(_, c gjson.Result) bool {
			if idx, ok := strings.CutPrefix(c.String(), "deribit_price_index."); ok {
				out = append(out, canarySub{every: time.Second, frame: func(now time.Time) []byte {
					return AppendDeribitIndex(nil, idx, now.UnixMilli())
				}})
			}
			return true
		})
		return out
	}
	// HTX: {"op":"sub","topic":"public.BTC-USDT.funding_rate"}, pushed
	// every 60 s.
	if gjson.GetBytes(msg, "op").String() == "sub" {
		topic := gjson.GetBytes(msg, "topic").String()
		if code, ok := strings.CutSuffix(strings.TrimPrefix(topic, "public."), ".funding_rate"); ok && code != "*" {
			out = append(out, canarySub{every: time.Minute, frame: func(now time.Time) []byte {
				return AppendHTXFundingRate(nil, code, now.UnixMilli())
			}})
		}
		return out
	}
	// Gate: {"channel":"futures.tickers","event":"subscribe","payload":[…]},
	// a push a second.
	if gjson.GetBytes(msg, "channel").String() == "futures.tickers" && gjson.GetBytes(msg, "event").String() == "subscribe" {
		gjson.GetBytes(msg, "payload").ForEach(func(_, p gjson.Result) bool {
			c := p.String()
			out = append(out, canarySub{every: time.Second, frame: func(now time.Time) []byte {
				return AppendGateTicker(nil, c, now.UnixMilli())
			}})
			return true
		})
		return out
	}
	if gjson.GetBytes(msg, "event").String() == "subscribe" && gjson.GetBytes(msg, "feed").String() == "heartbeat" {
		return []canarySub{{every: 10 * time.Second, frame: func(now time.Time) []byte {
			return AppendKrakenHeartbeat(nil, now.UnixMilli())
		}}}
	}
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
