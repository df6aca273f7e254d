package ingest

import (
	"bytes"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/event"
)

// TestFrameAllocs pins the read loop's zero-allocation contract: handling
// a frame (canary test, keepalive reply, decode, sibling key ring, ring
// push, counters) allocates nothing, for every kind of frame a venue
// sends, bad ones included once their first log line is out.
func TestFrameAllocs(t *testing.T) {
	usdm := BinanceUSDMSpec(VenueConfig{StreamURL: "ws://127.0.0.1:1/market/stream?streams=!forceOrder@arr"})
	okx := OKXSpec(VenueConfig{}, offlineInstruments(t, event.OKX))
	bybit := BybitSpec(VenueConfig{}, nil, event.Linear)
	cases := []struct {
		name   string
		spec   Spec
		frames [][]byte
	}{
		{"binance-usdm", usdm, [][]byte{
			usdmFrame(1),
			[]byte(`{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1"}}`),
			[]byte(`{"result":null,"id":1}`),
			[]byte(`{"stream":"!forceOrder@arr","data":{"e":"forceOrder","o":{"s":"BTC\nUSDT"}}}`),
		}},
		{"okx", okx, append(readLines(t, "frames/okx.jsonl"), []byte("pong"),
			[]byte(`{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","markPx":"1","ts":"1"}]}`))},
		{"bybit", bybit, append(readLines(t, "frames/bybit.jsonl"),
			[]byte(`{"topic":"allLiquidation.BTCUSDT","ts":1,"data":[{"T":1739502302929,"s":"BTCUSDT","S":"Buy","v":"1","p":"5"},{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"x"}]}`))},
		// Venue error replies are left out: their message is copied for
		// the log, off the path of liquidations (ControlInspector).
		// The test_request is answered on the socket: TestRespondAnswerAllocs.
		{"deribit", DeribitSpec(VenueConfig{}, nil), append(readLines(t, "frames/deribit.jsonl"),
			without(noErrors(readLines(t, "frames/deribit.control.jsonl")), `"test_request"`)...)},
		{"kraken-futures", KrakenFuturesSpec(VenueConfig{}, nil), append(readLines(t, "frames/kraken_futures.jsonl"), noErrors(readLines(t, "frames/kraken_futures.control.jsonl"))...)},
		{"bitfinex", BitfinexSpec(VenueConfig{}), append([][]byte{[]byte(`{"event":"subscribed","channel":"status","chanId":907,"key":"liq:global"}`)},
			append(readLines(t, "frames/bitfinex.jsonl"), []byte(`[907,"hb"]`), []byte(`[908,"hb"]`))...)},
		{"bitget", BitgetSpec(VenueConfig{}), append(readLines(t, "frames/bitget.jsonl"), []byte("pong"))},
		{"aster", AsterSpec(VenueConfig{}), append(readLines(t, "frames/aster.jsonl"),
			[]byte(`{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1"}}`))},
	}
	for _, c := range cases {
		st := NewStream(c.spec, StreamOptions{Conns: 2, RingSize: 1 << 16})
		sl := st.slots[0]
		cn := &conn{sl: sl, ring: sl.rings[0], started: time.Now(), alive: make(chan struct{}), keys: new(keyRing),
			dec: c.spec.Decoder}
		if c.spec.NewConnDecoder != nil {
			cn.dec = c.spec.NewConnDecoder()
		}
		evs := make([]event.Event, 0, 64)
		for i, f := range c.frames {
			if n := testing.AllocsPerRun(50, func() { evs = cn.frame(websocket.TextMessage, f, evs, time.Now()) }); n != 0 {
				t.Errorf("%s frame %d (%.40s): %v allocs per frame", c.name, i, f, n)
			}
		}
		if st.Live() != 1 {
			t.Errorf("%s: the frames did not prove the connection", c.name)
		}
	}
}

// noErrors drops the venue error replies from frames.
func noErrors(frames [][]byte) [][]byte {
	var out [][]byte
	for _, f := range frames {
		if !bytes.Contains(f, []byte(`"error"`)) {
			out = append(out, f)
		}
	}
	return out
}

// without returns the frames that do not contain s.
func without(frames [][]byte, s string) [][]byte {
	var out [][]byte
	for _, f := range frames {
		if !bytes.Contains(f, []byte(s)) {
			out = append(out, f)
		}
	}
	return out
}

// BenchmarkFrame is the read loop's cost per Binance USD-M frame after the
// read: canary test, decode, sibling key, ring push, counters.
func BenchmarkFrame(b *testing.B) {
	spec := BinanceUSDMSpec(VenueConfig{StreamURL: "ws://127.0.0.1:1/market/stream?streams=!forceOrder@arr"})
	st := NewStream(spec, StreamOptions{Conns: 2, RingSize: 1 << 10})
	sl := st.slots[0]
	cn := &conn{sl: sl, ring: sl.rings[0], started: time.Now(), alive: make(chan struct{}), keys: new(keyRing)}
	f := usdmFrame(1)
	evs := make([]event.Event, 0, 64)
	var e event.Event
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		evs = cn.frame(websocket.TextMessage, f, evs, time.Now())
		sl.rings[0].Pop(&e)
	}
}
