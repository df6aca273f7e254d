package ingest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// TestBitfinexRules: one event per trigger row (IS_MATCH 0), executions
// ignored; the sign of AMOUNT is the position's, so a long smaller than one
// coin is a long (aggr-server's threshold of 1 calls it a short); the
// liquidation price when the row has one, else the entry price; fields
// appended after LIQUIDATION_PRICE are skipped; EUR-margined sizes unknown.
func TestBitfinexRules(t *testing.T) {
	d := NewBitfinexDecoder()
	frame := `[7,[` +
		`["pos",1,1700000000001,null,"tBTCF0:USTF0",0.5,60000,null,0,1,null,null],` +
		`["pos",1,1700000000002,null,"tBTCF0:USTF0",0.3,60000,null,1,1,null,59000.5],` +
		`["pos",2,1700000000003,null,"tETHF0:USTF0",-3,2000,null,0,0,null,2100.25,"new",[1,2],{"x":1}],` +
		`["pos",3,1700000000004,null,"tBTCF0:EUTF0",-1,50000,null,0,1,null,null]` +
		`],99,1700000000100]`
	got, err := d.Decode(nil, []byte(frame), 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("%d events, %v; want 3 (the execution ignored)", len(got), err)
	}
	if e := got[0]; e.Side != event.Long || e.Qty != 0.5 || e.Price != 60000 || e.Notional != 30000 || e.Basis != event.BasisLinear || e.Symbol.String() != "BTCF0:USTF0" {
		t.Errorf("small long: %+v", e)
	}
	if e := got[1]; e.Side != event.Short || e.Qty != 3 || e.Price != 2100.25 || e.Notional != 3*2100.25 || e.TimeMs != 1700000000003 {
		t.Errorf("short with a liquidation price: %+v", e)
	}
	if e := got[2]; e.Basis != event.BasisUnknown || !math.IsNaN(e.Notional) || e.Side != event.Short {
		t.Errorf("EUR-margined: %+v, want unknown", e)
	}
	got, err = d.Decode(nil, []byte(`[7,[["pos",1,1700000000001,null,"tBTCF0:USTF0",0.5,60000,null,2,1,null,null],["pos",1,1700000000001,null,"tBTCF0:USTF0",0,60000,null,0,1,null,null],["pos",1,1700000000001,null,"tBTCF0:USTF0",1,60000,null,0,1,null,null]]]`), 0)
	var de *DecodeError
	if len(got) != 1 || !errors.As(err, &de) || de.Field != "[8] IS_MATCH" {
		t.Errorf("bad IS_MATCH and zero AMOUNT: %d events, %v; want the good row and a refusal naming IS_MATCH", len(got), err)
	}
	for _, f := range []string{`[7,"hb"]`, `[7,"hb",12,1700000000000]`, `{"event":"pong","ts":1,"cid":2}`} {
		if got, err := d.Decode(nil, []byte(f), 0); err != nil || len(got) != 0 {
			t.Errorf("%s: %d events, %v; want a control frame", f, len(got), err)
		}
	}
	for _, f := range []string{`[7,"te"]`, `[7,5]`, `["x",[]]`, `[7,[["trade",1]]]`} {
		if _, err := d.Decode(nil, []byte(f), 0); err == nil {
			t.Errorf("%s decoded without error", f)
		}
	}
}

// TestBitfinexChannelPerConnection: a connection's decoder takes data only
// from the channel its ack named, and none before the ack.
func TestBitfinexChannelPerConnection(t *testing.T) {
	row := func(ch string) []byte {
		return []byte(`[` + ch + `,[["pos",1,1700000000001,null,"tBTCF0:USTF0",0.5,60000,null,0,1,null,null]]]`)
	}
	d := NewBitfinexConnDecoder()
	if got, err := d.Decode(nil, row("5"), 0); err == nil || len(got) != 0 {
		t.Errorf("before the ack: %d events, %v; want refused", len(got), err)
	}
	if _, err := d.Decode(nil, []byte(`{"event":"subscribed","channel":"status","chanId":5,"key":"liq:global"}`), 0); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Decode(nil, row("5"), 0); err != nil || len(got) != 1 {
		t.Errorf("its channel: %d events, %v", len(got), err)
	}
	if got, err := d.Decode(nil, row("6"), 0); !errors.Is(err, ErrUnexpected) || len(got) != 0 {
		t.Errorf("another channel: %d events, %v; want unexpected", len(got), err)
	}
	loose := NewBitfinexDecoder()
	loose.Decode(nil, []byte(`{"event":"subscribed","channel":"status","chanId":5,"key":"liq:global"}`), 0)
	if got, _ := loose.Decode(nil, row("6"), 0); len(got) != 1 {
		t.Error("the decoder of frames of unknown origin refused another recording's channel")
	}
}

// TestBitfinexRespond: info 20051 and 20061 ask for a new connection,
// 20060 (maintenance starting) and the welcome do not.
func TestBitfinexRespond(t *testing.T) {
	for f, want := range map[string]bool{
		`{"event":"info","code":20051,"msg":"Stop/Restart Websocket Server (please reconnect)"}`: true,
		`{"event":"info","code":20061,"msg":"Maintenance ended"}`:                                true,
		`{"event":"info","code":20060,"msg":"Entering maintenance mode"}`:                        false,
		`{"event":"info","version":2,"platform":{"status":1}}`:                                   false,
		`[7,"hb"]`: false,
	} {
		if r, resp := bitfinexRespond(nil, []byte(f)); r != nil || (resp == Reconnect) != want || (resp != Reconnect && resp != NoResponse) {
			t.Errorf("%s: %s %v, want reconnect %v", f, r, resp, want)
		}
	}
}

// TestBitfinexRestartReconnects: against a loopback Bitfinex, a replayed
// liquidation at subscription is backlog; info 20051 makes the client
// replace the connection at once (cause venue_request, one short gap); the
// new connection's decoder takes the new subscription's channel.
func TestBitfinexRestartReconnects(t *testing.T) {
	l, err := ingesttest.NewVenue(event.Bitfinex, ingesttest.LoopbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := BitfinexSpec(VenueConfig{StreamURL: l.URL("/ws/2")})
	h := startHarness(t, spec, StreamOptions{})
	waitFor(t, 3*time.Second, "live", func() bool { return h.st.Live() == 1 })
	old := ingesttest.Liquidation{Symbol: "BTCF0:USTF0", Side: event.Long, Price: "60000", Qty: "2", TimeMs: time.Now().Add(-12 * time.Hour).UnixMilli(), OrderID: 1}
	l.Broadcast(ingesttest.AppendBitfinex(nil, &old))
	waitFor(t, 3*time.Second, "the replayed liquidation", func() bool { return h.count() == 1 })
	l.Broadcast([]byte(`{"event":"info","code":20051,"msg":"Stop/Restart Websocket Server (please reconnect)"}`))
	reconnects := h.set.GetOrCreateCounter(`liqbox_ingest_reconnects_total` + lbl(spec, 0, `,cause="venue_request"`))
	waitFor(t, 3*time.Second, "the reconnect", func() bool { return reconnects.Get() == 1 && l.Accepted() == 2 && h.st.Live() == 1 })
	waitFor(t, 2*time.Second, "its gap", func() bool { return len(h.gaps.list()) == 1 })
	if g := h.gaps.list()[0]; g.Cause != CauseVenueRequest || g.End.Sub(g.Start) > time.Second {
		t.Errorf("gap %+v, want one venue_request gap under a second", g)
	}
	fresh := ingesttest.Liquidation{Symbol: "BTCF0:USTF0", Side: event.Short, Price: "61000", Qty: "3", TimeMs: time.Now().UnixMilli(), OrderID: 2}
	l.Broadcast(ingesttest.AppendBitfinex(nil, &fresh))
	waitFor(t, 3*time.Second, "the fresh liquidation", func() bool { return h.count() == 2 })
	evs, _ := h.snapshot()
	if evs[0].Flags&event.FlagBacklog == 0 || evs[1].Flags&event.FlagBacklog != 0 || evs[1].Side != event.Short || evs[1].Notional != 183000 {
		t.Errorf("events %+v / %+v: want the replay as backlog, the fresh short of $183,000 not", evs[0], evs[1])
	}
}

func FuzzDecodeBitfinex(f *testing.F) { fuzzDecode(f, event.Bitfinex, "bitfinex") }
