package ingest

import (
	"errors"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// TestBitgetRules: side is the position's (sell: a short); the amount is
// the quote value, so USD = amount and base = amount / price; the account
// type names the market, whether arg comes before data or after; rows get
// their own time, not the push's.
func TestBitgetRules(t *testing.T) {
	d := NewBitgetDecoder()
	cases := []struct {
		frame  string
		side   event.Side
		market event.Market
		basis  event.Basis
	}{
		{`{"action":"update","arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"ETHUSDT","side":"sell","price":"2000","amount":"5000","ts":"1736371332000"}],"ts":1736371333000}`,
			event.Short, event.Linear, event.BasisLinear},
		{`{"data":[{"symbol":"ETHPERP","side":"buy","price":"2000","amount":"5000","ts":"1736371332000"}],"arg":{"instType":"usdc-futures","topic":"liquidation"},"action":"update","ts":1736371333000}`,
			event.Long, event.Linear, event.BasisLinear},
		{`{"action":"snapshot","arg":{"instType":"coin-futures","topic":"liquidation"},"data":[{"symbol":"ETHUSD","side":"buy","price":"2000","amount":"5000","ts":"1736371332000"}],"ts":1736371333000}`,
			event.Long, event.Inverse, event.BasisInverse},
	}
	for _, c := range cases {
		got, err := d.Decode(nil, []byte(c.frame), 0)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %d events, %v", c.frame, len(got), err)
		}
		e := got[0]
		if e.Side != c.side || e.Market != c.market || e.Basis != c.basis || e.Notional != 5000 || e.Qty != 2.5 || e.TimeMs != 1736371332000 {
			t.Errorf("%s: %+v; want %s %s %s $5000 qty 2.5", c.frame, e, c.side, c.market, c.basis)
		}
	}
	for _, c := range []struct {
		frame, field string
	}{
		{`{"action":"update","arg":{"instType":"spot","topic":"liquidation"},"data":[{"symbol":"ETHUSDT","side":"sell","price":"2000","amount":"5000","ts":"1736371332000"}]}`, "arg.instType"},
		{`{"action":"update","arg":{"instType":"usdt-futures","topic":"ticker"},"data":[{"symbol":"ETHUSDT"}]}`, "arg.topic"},
		{`{"action":"update","arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"ETHUSDT","side":"long","price":"2000","amount":"5000","ts":"1736371332000"}]}`, "data[].side"},
		{`{"action":"update","arg":{"instType":"usdt-futures","topic":"liquidation"},"data":[{"symbol":"ETHUSDT","side":"buy","price":"2000","amount":"0","ts":"1736371332000"}]}`, "data[].amount"},
	} {
		var de *DecodeError
		if _, err := d.Decode(nil, []byte(c.frame), 0); !errors.As(err, &de) || de.Field != c.field {
			t.Errorf("%s: %v, want a refusal naming %s", c.frame, err, c.field)
		}
	}
	for _, f := range []string{"pong", `{"event":"subscribe","arg":{"instType":"usdt-futures","topic":"liquidation"},"connId":"x"}`,
		`{"event":"error","code":30001,"msg":"instType not exists"}`} {
		if got, err := d.Decode(nil, []byte(f), 0); err != nil || len(got) != 0 {
			t.Errorf("%s: %d events, %v; want a control frame", f, len(got), err)
		}
	}
	if bad, msg := d.Control([]byte(`{"event":"error","code":30001,"msg":"instType not exists"}`)); !bad || msg != "code 30001: instType not exists" {
		t.Errorf("error reply: %v %q", bad, msg)
	}
}

func FuzzDecodeBitget(f *testing.F) { fuzzDecode(f, event.Bitget, "bitget") }
