package ingest

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// deribitFrame wraps trades in a trades.future.any.100ms notification.
func deribitFrame(trades ...string) []byte {
	return []byte(`{"jsonrpc":"2.0","method":"subscription","params":{"channel":"trades.future.any.100ms","data":[` +
		strings.Join(trades, ",") + `]}}`)
}

// deribitTradeJSON is one trade; flag "" leaves the liquidation member out.
func deribitTradeJSON(name, dir, flag, amount string) string {
	liq := ""
	if flag != "" {
		liq = `"liquidation":"` + flag + `",`
	}
	return `{"trade_seq":1,"trade_id":"9","timestamp":1700000000123,"price":4000.5,` + liq +
		`"instrument_name":"` + name + `","index_price":4001,"direction":"` + dir + `","amount":` + amount + `}`
}

// TestDeribitSideRules: the cases PROTOCOLS.md §6 lists. T: the taker
// (direction) was liquidated; M: the maker, on the other side; MT: both,
// two events of the full amount.
func TestDeribitSideRules(t *testing.T) {
	d := NewDeribitDecoder(nil)
	cases := []struct {
		dir, flag string
		want      []event.Side
	}{
		{"sell", "T", []event.Side{event.Long}},
		{"buy", "T", []event.Side{event.Short}},
		{"sell", "M", []event.Side{event.Short}},
		{"buy", "M", []event.Side{event.Long}},
		{"buy", "MT", []event.Side{event.Short, event.Long}},
		{"sell", "MT", []event.Side{event.Long, event.Short}},
		{"buy", "", nil}, // an ordinary trade
	}
	for _, c := range cases {
		got, err := d.Decode(nil, deribitFrame(deribitTradeJSON("BTC-PERPETUAL", c.dir, c.flag, "2500")), 0)
		if err != nil || len(got) != len(c.want) {
			t.Fatalf("%s %s: %d events, %v; want %d", c.flag, c.dir, len(got), err, len(c.want))
		}
		for i, e := range got {
			if e.Side != c.want[i] || e.Notional != 2500 || e.Qty != 2500/4000.5 || e.Basis != event.BasisInverse {
				t.Errorf("%s %s event %d: %s $%v qty %v %s; want %s $2500", c.flag, c.dir, i, e.Side, e.Notional, e.Qty, e.Basis, c.want[i])
			}
		}
		if len(got) == 2 && got[0].Key() == got[1].Key() {
			t.Errorf("MT: the two liquidations have one key: dedup would drop one")
		}
	}
}

// TestDeribitUnits: linear instruments (from the table) are in base units,
// inverse ones in USD; an instrument the table lacks follows the naming
// rule or stays unknown; options are not this box's; a bad trade is
// refused by name and the frame's good one kept.
func TestDeribitUnits(t *testing.T) {
	inst := testInstruments(t, event.Deribit, map[string]Instrument{
		"BTC_USDC-PERPETUAL": {Market: event.Linear, Basis: event.BasisLinear, Size: 1},
	})
	d := NewDeribitDecoder(inst)
	frame := deribitFrame(
		deribitTradeJSON("BTC_USDC-PERPETUAL", "sell", "T", "0.5"),
		deribitTradeJSON("ETH-27DEC24", "sell", "T", "100"),
		deribitTradeJSON("SOL_USDC-PERPETUAL", "sell", "T", "3"),
		deribitTradeJSON("BTC-29SEP23-30000-C", "sell", "T", "1"),
	)
	got, err := d.Decode(nil, frame, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("%d events, %v; want 3 (the option skipped)", len(got), err)
	}
	if e := got[0]; e.Market != event.Linear || e.Basis != event.BasisLinear || e.Qty != 0.5 || e.Notional != 0.5*4000.5 {
		t.Errorf("linear: %+v", e)
	}
	if e := got[1]; e.Market != event.Inverse || e.Notional != 100 {
		t.Errorf("inverse by naming: %+v", e)
	}
	if e := got[2]; e.Basis != event.BasisUnknown || !math.IsNaN(e.Notional) || e.Symbol.String() != "SOL_USDC-PERPETUAL" {
		t.Errorf("unlisted linear: %+v, want unknown", e)
	}
	got, err = d.Decode(nil, deribitFrame(deribitTradeJSON("BTC-PERPETUAL", "sell", "X", "10"), deribitTradeJSON("BTC-PERPETUAL", "buy", "T", "10")), 0)
	var de *DecodeError
	if len(got) != 1 || !errors.As(err, &de) || de.Field != "data[].direction/liquidation" {
		t.Errorf("bad flag: %d events, %v; want the good one and a refusal naming the flag", len(got), err)
	}
	if _, err := d.Decode(nil, []byte(`{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.BTC-PERPETUAL.100ms","data":[]}}`), 0); err == nil {
		t.Error("a channel this box never subscribes to decoded without error")
	}
}

// TestDeribitRespond: a test_request gets public/test, nothing else does.
func TestDeribitRespond(t *testing.T) {
	if r, resp := deribitRespond([]byte("old"), ingesttest.DeribitTestRequest); string(r) != "old"+string(deribitTest) || resp != Reply {
		t.Errorf("test_request: %s %v", r, resp)
	}
	for _, f := range [][]byte{[]byte(`{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}`), deribitFrame()} {
		if r, resp := deribitRespond(nil, f); r != nil || resp != NoResponse {
			t.Errorf("%s: answered %s %v", f, r, resp)
		}
	}
}

// TestDeribitAnswersTestRequest: against a loopback Deribit that sends a
// test_request right after set_heartbeat (and later again), the client
// answers each with public/test, as Deribit requires on pain of closing
// the connection; the liquidation then arrives.
func TestDeribitAnswersTestRequest(t *testing.T) {
	var tests, heartbeats atomic.Int64
	answer := ingesttest.VenueAnswer(event.Deribit)
	l, err := ingesttest.NewVenue(event.Deribit, ingesttest.LoopbackOptions{OnMessage: func(msg []byte) [][]byte {
		switch {
		case strings.Contains(string(msg), `"public/test"`):
			tests.Add(1)
		case strings.Contains(string(msg), `"public/set_heartbeat"`) && strings.Contains(string(msg), `"interval":30`):
			heartbeats.Add(1)
		}
		return answer(msg)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := DeribitSpec(VenueConfig{StreamURL: l.URL("/ws/api/v2")}, nil)
	spec.PingEvery = time.Hour // only the keepalive right after subscribing
	h := startHarness(t, spec, StreamOptions{})
	// One public/test is the keepalive after subscribing, one the answer.
	waitFor(t, 3*time.Second, "the test_request answered", func() bool { return tests.Load() == 2 })
	if heartbeats.Load() != 1 {
		t.Errorf("%d set_heartbeat requests, want 1", heartbeats.Load())
	}
	l.Broadcast(ingesttest.DeribitTestRequest)
	waitFor(t, 3*time.Second, "the second test_request answered", func() bool { return tests.Load() == 3 })
	l.Broadcast(readLines(t, "frames/deribit.jsonl")[0])
	waitFor(t, 3*time.Second, "the liquidation", func() bool { return h.count() == 1 })
	if l.Accepted() != 1 {
		t.Errorf("%d connections, want 1", l.Accepted())
	}
}

// TestDeribitInstrumentsREST: get_instruments gives each future's
// instrument_type; a failure keeps the table in use (empty here), so the
// naming rule decides.
func TestDeribitInstrumentsREST(t *testing.T) {
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() || r.URL.Path != "/api/v2/public/get_instruments" || r.URL.Query().Get("currency") != "any" || r.URL.Query().Get("kind") != "future" {
			http.Error(w, `{"error":{"code":10000}}`, http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"jsonrpc":"2.0","result":[` +
			`{"instrument_name":"BTC-PERPETUAL","kind":"future","instrument_type":"reversed","contract_size":10,"is_active":true},` +
			`{"instrument_name":"SOL_USDC-PERPETUAL","kind":"future","instrument_type":"linear","contract_size":1,"is_active":true},` +
			`{"instrument_name":"BTC-FS-29SEP23_PERP","kind":"future_combo","instrument_type":"reversed"}]}`))
	}))
	defer srv.Close()
	inst, err := NewInstruments(event.Deribit, VenueConfig{RESTURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := inst.Refresh(t.Context()); err == nil {
		t.Fatal("a 500 refreshed the table")
	}
	d := NewDeribitDecoder(inst)
	sol := deribitFrame(deribitTradeJSON("SOL_USDC-PERPETUAL", "buy", "T", "3"))
	if got, _ := d.Decode(nil, sol, 0); len(got) != 1 || got[0].NotionalKnown() {
		t.Fatalf("before a good refresh: %+v, want unknown", got)
	}
	fail.Store(false)
	if err := inst.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := inst.Load().Len(); n != 2 {
		t.Errorf("%d instruments, want the 2 futures (the combo left out)", n)
	}
	got, _ := d.Decode(nil, sol, 0)
	if len(got) != 1 || got[0].Basis != event.BasisLinear || got[0].Notional != 3*4000.5 {
		t.Errorf("after the refresh: %+v, want linear 3 × 4000.5", got)
	}
}

func FuzzDecodeDeribit(f *testing.F) { fuzzDecode(f, event.Deribit, "deribit") }
