package ingest

import (
	"errors"
	"strings"
	"testing"

	"github.com/liqbox/liqbox/event"
)

const boundsRecvNs = int64(1_800_000_000_000_000_000) // 2027-01-15

// usdmOrder is a raw Binance USD-M forceOrder with the given "o" members
// spliced in after a valid symbol and side.
func usdmOrder(members string) []byte {
	return []byte(`{"e":"forceOrder","E":1700000000001,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC",` + members + `,"X":"FILLED"}}`)
}

// TestDecodeRefusesAbsurdValues: values outside the documented bounds are
// decode errors that name the field, never events (issue 14 point 2).
func TestDecodeRefusesAbsurdValues(t *testing.T) {
	bybit := func(row string) []byte {
		return []byte(`{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1739502303204,"data":[` + row + `]}`)
	}
	okx := func(detail string) []byte {
		return []byte(`{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[` + detail + `],"instId":"BTC-USDT-SWAP"}]}`)
	}
	cases := []struct {
		name  string
		v     event.Venue
		frame []byte
		field string
	}{
		{"infinite linear", event.BinanceUSDM, usdmOrder(`"q":"1e200","p":"1e200","ap":"1e200","T":1700000000000`), "o.q"},
		{"price 1e200", event.BinanceUSDM, usdmOrder(`"q":"1","p":"1e200","ap":"1e200","T":1700000000000`), "o.ap"},
		{"zero price", event.BinanceUSDM, usdmOrder(`"q":"1","p":"0","ap":"0","T":1700000000000`), "o.ap"},
		{"zero quantity", event.BinanceUSDM, usdmOrder(`"q":"0","p":"5","ap":"5","T":1700000000000`), "o.q"},
		{"negative quantity", event.BinanceUSDM, usdmOrder(`"q":"-1","p":"5","ap":"5","T":1700000000000`), "o.q"},
		{"year three million", event.BinanceUSDM, usdmOrder(`"q":"1","p":"5","ap":"5","T":94670856000000000`), "o.T"},
		{"before 2015", event.BinanceUSDM, usdmOrder(`"q":"1","p":"5","ap":"5","T":1000000000000`), "o.T"},
		{"notional 1e12", event.BinanceUSDM, usdmOrder(`"q":"1e6","p":"1e6","ap":"1e6","T":1700000000000`), "o.q×o.ap"},
		{"bybit zero price", event.Bybit, bybit(`{"T":1739502302929,"s":"BTCUSDT","S":"Buy","v":"1","p":"0"}`), "data[].p"},
		{"bybit huge size", event.Bybit, bybit(`{"T":1739502302929,"s":"BTCUSDT","S":"Buy","v":"1e200","p":"5"}`), "data[].v"},
		{"okx far future", event.OKX, okx(`{"bkPx":"5","posSide":"long","side":"sell","sz":"1","ts":"99999999999999"}`), "details[].ts"},
		{"bitmex zero qty", event.BitMEX, []byte(`{"table":"liquidation","action":"insert","data":[{"orderID":"a","symbol":"XBTUSD","side":"Sell","price":90000,"leavesQty":0}]}`), "data[].leavesQty"},
		{"bitmex 1e200 price", event.BitMEX, []byte(`{"table":"liquidation","action":"insert","data":[{"orderID":"a","symbol":"XBTUSD","side":"Sell","price":1e200,"leavesQty":1}]}`), "data[].price"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := offlineDecoder(t, c.v).Decode(nil, c.frame, boundsRecvNs)
			if len(got) != 0 {
				t.Fatalf("decoded %+v, want no event", got)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != c.field || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want a malformed-frame error naming %s", err, c.field)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("message %q does not name the field", err)
			}
		})
	}
}

// TestUnknownNotionalIsNaN: notional is NaN exactly when the basis is
// unknown (a COIN-M symbol without metadata, a BitMEX quanto).
func TestUnknownNotionalIsNaN(t *testing.T) {
	coinm := []byte(`{"e":"forceOrder","E":1,"o":{"s":"ZZZUSD_PERP","S":"SELL","q":"3","p":"5","ap":"5","T":1700000000000}}`)
	quanto := []byte(`{"table":"liquidation","action":"insert","data":[{"orderID":"a","symbol":"ETHUSD","side":"Sell","price":3000,"leavesQty":10}]}`)
	for _, c := range []struct {
		v     event.Venue
		frame []byte
	}{{event.BinanceCOINM, coinm}, {event.BitMEX, quanto}} {
		got, err := offlineDecoder(t, c.v).Decode(nil, c.frame, boundsRecvNs)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %d events, %v", c.v, len(got), err)
		}
		if msg := checkBounds(&got[0], c.v, boundsRecvNs); msg != "" || got[0].Basis != event.BasisUnknown || got[0].NotionalKnown() {
			t.Errorf("%s: %+v (%s), want basis unknown with NaN notional", c.v, got[0], msg)
		}
	}
}

// TestBadElementKeepsTheGoodOnes: one malformed liquidation of a Bybit,
// OKX or BitMEX multi-liquidation frame is refused and counted (the error),
// the good ones are kept (issue 14 point 3).
func TestBadElementKeepsTheGoodOnes(t *testing.T) {
	cases := []struct {
		v     event.Venue
		frame string
		want  []string // symbols kept, in order
		field string
	}{
		{event.Bybit, `{"topic":"allLiquidation.BTCUSDT","ts":1739502303204,"data":[` +
			`{"T":1739502302929,"s":"BTCUSDT","S":"Buy","v":"0.015","p":"96250.5"},` +
			`{"T":1739502302930,"s":"BTCUSDT","S":"Buy","v":"0.015","p":"abc"},` +
			`{"T":1739502302931,"s":"ETHUSDT","S":"Sell","v":"1","p":"3000"}]}`,
			[]string{"BTCUSDT", "ETHUSDT"}, "data[].p"},
		{event.OKX, `{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[` +
			`{"details":[{"bkPx":"82655.7","posSide":"net","side":"sell","sz":"2","ts":"1723904954052"},` +
			`{"bkPx":"82600.1","posSide":"sideways","side":"buy","sz":"3","ts":"1723904954053"}],"instId":"BTC-USDT-SWAP"},` +
			`{"details":[{"bkPx":"1","posSide":"long","side":"sell","sz":"1","ts":"1723904954052"}],"instId":"BAD\u001bID"},` +
			`{"details":[{"bkPx":"3000","posSide":"short","side":"buy","sz":"1","ts":"1723904954054"}],"instId":"ETH-USDT-SWAP"}]}`,
			[]string{"BTC-USDT-SWAP", "ETH-USDT-SWAP"}, "details[].posSide/side"},
		{event.BitMEX, `{"table":"liquidation","action":"insert","data":[` +
			`{"orderID":"a","symbol":"XBTUSD","side":"Sell","price":90000.5,"leavesQty":100},` +
			`{"orderID":"b","symbol":"XBTUSD","side":"Sell","price":"x","leavesQty":100},` +
			`7,` +
			`{"orderID":"c","symbol":"XBTUSD","side":"Buy","price":90001,"leavesQty":200}]}`,
			[]string{"XBTUSD", "XBTUSD"}, "data[].price"},
	}
	for _, c := range cases {
		t.Run(c.v.String(), func(t *testing.T) {
			got, err := offlineDecoder(t, c.v).Decode(nil, []byte(c.frame), boundsRecvNs)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != c.field {
				t.Errorf("err %v, want one naming %s", err, c.field)
			}
			var syms []string
			for i := range got {
				syms = append(syms, got[i].Symbol.String())
				if msg := checkBounds(&got[i], c.v, boundsRecvNs); msg != "" {
					t.Errorf("event %d: %s", i, msg)
				}
			}
			if strings.Join(syms, ",") != strings.Join(c.want, ",") {
				t.Errorf("kept %v, want %v", syms, c.want)
			}
		})
	}
}

// TestDecodeChecksTheEventType: a frame with an order-shaped payload is a
// liquidation only if the venue's event type, topic, channel or table says
// so (issue 14 point 4); the canary streams are control frames.
func TestDecodeChecksTheEventType(t *testing.T) {
	order := `"o":{"s":"BTCUSDT","S":"SELL","q":"1","p":"5","ap":"5","T":1700000000000}`
	cases := []struct {
		v     event.Venue
		frame string
		field string // "" means a control frame: no event, no error
	}{
		{event.BinanceUSDM, `{"e":"aggTrade",` + order + `}`, "e"},
		{event.BinanceUSDM, `{` + order + `}`, "e"},
		{event.BinanceUSDM, `{"stream":"x","data":{"e":"ORDER_TRADE_UPDATE",` + order + `}}`, "e"},
		{event.BinanceUSDM, `{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1"}}`, ""},
		{event.Bybit, `{"topic":"publicTrade.BTCUSDT","data":[{"T":1739502302929,"s":"BTCUSDT","S":"Buy","v":"1","p":"5"}]}`, "topic"},
		{event.Bybit, `{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","markPrice":"1"},"ts":1}`, ""},
		{event.OKX, `{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"details":[{"bkPx":"5","posSide":"long","sz":"1","ts":"1723904954052"}],"instId":"BTC-USDT-SWAP"}]}`, "arg.channel"},
		{event.OKX, `{"data":[{"details":[{"bkPx":"5","posSide":"long","sz":"1","ts":"1723904954052"}],"instId":"BTC-USDT-SWAP"}]}`, "arg.channel"},
		{event.OKX, `{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":[{"instId":"BTC-USDT-SWAP","markPx":"1","ts":"1"}]}`, ""},
		{event.BitMEX, `{"table":"trade","action":"insert","data":[{"symbol":"XBTUSD","side":"Sell","price":5,"leavesQty":1}]}`, "table"},
		{event.BitMEX, `{"table":"instrument","action":"update","data":[{"symbol":"XBTUSD","markPrice":5}]}`, ""},
	}
	for _, c := range cases {
		got, err := offlineDecoder(t, c.v).Decode(nil, []byte(c.frame), boundsRecvNs)
		if len(got) != 0 {
			t.Errorf("%s %s: decoded %d events", c.v, c.frame, len(got))
		}
		var de *DecodeError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s %s: %v, want a control frame", c.v, c.frame, err)
		case c.field != "" && (!errors.As(err, &de) || de.Field != c.field || !errors.Is(err, ErrUnexpected)):
			t.Errorf("%s %s: %v, want an unexpected-frame error naming %s", c.v, c.frame, err, c.field)
		}
	}
}

// TestDecodeRefusesHostileSymbols: a symbol keeps only what a venue symbol
// can contain (issue 14 point 5): ESC, newline, quotes, spaces, bidi
// overrides and over-long ids are refused with the symbol field named.
func TestDecodeRefusesHostileSymbols(t *testing.T) {
	for _, sym := range []string{`BTC\u001b[2JUSDT`, "BTC\x1b[2JUSDT", `BTC\nUSDT`, "BTC\nUSDT", `BTC\"USDT`,
		"BTC USDT", "BTC\u202eUSDT", "", strings.Repeat("A", event.SymbolCap+1), "BTC\xffUSDT"} {
		frame := []byte(`{"e":"forceOrder","E":1,"o":{"s":"` + sym + `","S":"SELL","q":"1","p":"5","ap":"5","T":1700000000000}}`)
		got, err := NewBinanceUSDMDecoder().Decode(nil, frame, boundsRecvNs)
		var de *DecodeError
		if len(got) != 0 || !errors.As(err, &de) || de.Field != "o.s" {
			t.Errorf("symbol %q: %d events, err %v; want refused naming o.s", sym, len(got), err)
		}
	}
	for _, sym := range []string{"BTCUSDT", "BTCUSD_PERP", "1000PEPEUSDT", "BTC-USDT-SWAP", ".BXBT", "币安人生USDT", strings.Repeat("A", event.SymbolCap)} {
		frame := []byte(`{"e":"forceOrder","E":1,"o":{"s":"` + sym + `","S":"SELL","q":"1","p":"5","ap":"5","T":1700000000000}}`)
		got, err := NewBinanceUSDMDecoder().Decode(nil, frame, boundsRecvNs)
		if err != nil || len(got) != 1 || got[0].Symbol.String() != sym {
			t.Errorf("symbol %q: %+v, %v; want it kept as it is", sym, got, err)
		}
	}
}

// TestDecodeErrorsSayWhat: frame-level faults name the reason (issue 14
// point 7).
func TestDecodeErrorsSayWhat(t *testing.T) {
	d := NewBinanceUSDMDecoder()
	for frame, want := range map[string]string{
		`{"e":"forceOrder"`:                                 "not JSON, cut short",
		`{"result":null,"id":1} {"x":1}`:                    "data after the JSON value",
		`"just a string"`:                                   "not a JSON object",
		`{"e":"forceOrder","E":1,"o":"a string"}`:           "o: missing or not an object",
		`{"hello":"world"}`:                                 "neither a liquidation nor a control message",
		strings.Repeat("[", 100) + strings.Repeat("]", 100): "nested deeper than 64 levels",
	} {
		_, err := d.Decode(nil, []byte(frame), boundsRecvNs)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40s: %v, want it to say %q", frame, err, want)
		}
	}
}
