package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	liqembed "github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// newScriptedVenue starts the loopback exchange on every path with a
// per-connection script (see LoopbackOptions.OnConnect): what one venue's
// server does on each connection.
func newScriptedVenue(t *testing.T, script func(c *ingesttest.Conn) func(msg []byte)) *ingesttest.Loopback {
	t.Helper()
	return newTestLoopback(t, ingesttest.LoopbackOptions{Path: "/", OnConnect: script})
}

// sendLines queues the lines of a testdata frames file as text frames.
func sendLines(c *ingesttest.Conn, lines [][]byte) {
	for _, l := range lines {
		c.Send(l)
	}
}

// runStream runs spec through the real Stream until want events arrived (or
// 10 s passed) and returns them.
func runStream(t *testing.T, spec Spec, want int) []event.Event {
	t.Helper()
	st := NewStream(spec, StreamOptions{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		MinDialInterval: 10 * time.Millisecond, DialTimeout: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	var got []event.Event
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		var e event.Event
		popped := false
		for _, r := range st.Rings() {
			for r.Pop(&e) {
				got = append(got, e)
				popped = true
			}
		}
		if !popped {
			time.Sleep(2 * time.Millisecond)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if len(got) < want {
		t.Fatalf("got %d events, want %d", len(got), want)
	}
	return got
}

// TestBinanceUSDMLoopback: the server checks the /market/stream path, pings
// with WebSocket control frames, sends control replies and every recorded
// frame, then cuts the connection as Binance does at 24 h; the client comes
// back and gets the rest.
func TestBinanceUSDMLoopback(t *testing.T) {
	lines := readLines(t, "frames/binance_usdm.jsonl")
	ctl := readLines(t, "frames/binance_usdm.control.jsonl")
	var badPath atomic.Bool
	l := newScriptedVenue(t, func(c *ingesttest.Conn) func([]byte) {
		if u := c.Request().URL; u.Path != "/market/stream" || u.Query().Get("streams") != "!forceOrder@arr" {
			badPath.Store(true)
		}
		c.Ping([]byte("hb"))
		sendLines(c, ctl)
		if c.Index() == 0 {
			sendLines(c, lines[:4])
			// A close handshake, not a cut: the frames still in flight
			// arrive before the client's close echo ends the connection.
			c.Close(websocket.CloseGoingAway, "24h")
			return nil
		}
		sendLines(c, lines[4:])
		return nil
	})
	spec := BinanceUSDMSpec(VenueConfig{StreamURL: l.URL("/market/stream?streams=!forceOrder@arr")})
	got := runStream(t, spec, len(lines))
	if badPath.Load() {
		t.Error("client did not use the /market/stream path")
	}
	if l.Accepted() < 2 {
		t.Errorf("%d connections, want a reconnect after the cut", l.Accepted())
	}
	if got[0].Symbol.String() != "BTCUSDT" || got[0].Side != event.Long || got[4].Symbol.String() != "XRPUSDT" || got[4].Side != event.Short {
		t.Errorf("unexpected events %v / %v", got[0], got[4])
	}
}

// TestBinanceCOINMLoopback runs COIN-M with contract sizes served by a
// loopback exchangeInfo (BTCUSD_200925 added: the 2022 snapshot predates it).
func TestBinanceCOINMLoopback(t *testing.T) {
	rest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"symbols":[{"symbol":"BTCUSD_200925","pair":"BTCUSD","contractSize":100,"contractStatus":"TRADING"}]}`))
	}))
	defer rest.Close()
	lines := readLines(t, "frames/binance_coinm.jsonl")
	l := newScriptedVenue(t, func(c *ingesttest.Conn) func([]byte) {
		sendLines(c, lines)
		return nil
	})
	cfg := VenueConfig{StreamURL: l.URL("/stream?streams=!forceOrder@arr"), RESTURL: rest.URL, Snapshots: liqembed.Instruments}
	inst, err := NewInstruments(event.BinanceCOINM, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := runStream(t, BinanceCOINMSpec(cfg, inst), 2)
	if got[0].Notional != 100 || got[1].Notional != 300 || got[0].Basis != event.BasisContractSize {
		t.Errorf("notional %v, %v (%s); want 100, 300", got[0].Notional, got[1].Notional, got[0].Basis)
	}
}

// TestBybitLoopback: symbols come from the loopback instruments-info, the
// server acks each subscribe, answers {"op":"ping"} with Bybit's pong and
// pushes allLiquidation frames only for subscribed topics.
func TestBybitLoopback(t *testing.T) {
	rest := newVenueREST(t)
	lines := readLines(t, "frames/bybit.jsonl")
	var pings atomic.Int64
	pong := []byte(`{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"","op":"ping"}`)
	l := newScriptedVenue(t, func(c *ingesttest.Conn) func([]byte) {
		var topics map[string]bool
		var last []byte
		return func(m []byte) {
			if topics == nil { // the first message is the subscription
				topics = map[string]bool{}
				for _, a := range strings.Split(string(m), `"`) {
					if strings.HasPrefix(a, "allLiquidation.") {
						topics[a] = true
					}
				}
				c.Send([]byte(`{"success":true,"ret_msg":"","conn_id":"c1","req_id":"","op":"subscribe"}`))
				for _, l := range lines {
					topic := strings.Split(string(l), `"`)[3]
					if topics[topic] {
						if last != nil {
							c.Send(last)
						}
						last = l
					}
				}
				return
			}
			if !strings.Contains(string(m), `"op":"ping"`) {
				return
			}
			c.Send(pong)
			// The last liquidation follows the first heartbeat, so the
			// test sees both before it stops the client.
			if pings.Add(1) == 1 && last != nil {
				c.Send(last)
			}
		}
	})
	inst, err := NewInstruments(event.Bybit, VenueConfig{RESTURL: rest.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	spec := BybitSpec(VenueConfig{StreamURL: l.URL("/v5/public/linear")}, inst, event.Linear)
	spec.PingEvery = 20 * time.Millisecond
	// Subscribed: BTCUSDT (frames 2, 8: 4 events), MAGICUSDT (18,19,21,22,23,40: 10), RLCUSDT (34-38, 41-45: 10).
	got := runStream(t, spec, 24)
	if pings.Load() == 0 {
		t.Error("no {\"op\":\"ping\"} reached the server")
	}
	for _, e := range got {
		if e.Market != event.Linear || e.Basis != event.BasisLinear {
			t.Errorf("%s: market %s basis %s", e.Symbol, e.Market, e.Basis)
		}
	}
}

// TestOKXLoopback: the server checks the subscription for SWAP and FUTURES,
// acks it, replays a burst of old liquidations (flagged backlog), answers
// the text ping with "pong", sends a fresh multi-detail push (not backlog)
// and then a 64008 service-upgrade notice before closing.
func TestOKXLoopback(t *testing.T) {
	lines := readLines(t, "frames/okx.jsonl")
	var pings atomic.Int64
	var subOK atomic.Bool
	fresh := `{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[` +
		`{"bkLoss":"0","bkPx":"82655.7","ccy":"","posSide":"net","side":"sell","sz":"2","ts":"` + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + `"},` +
		`{"bkLoss":"0","bkPx":"82600.1","ccy":"","posSide":"net","side":"buy","sz":"3","ts":"` + strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10) + `"}],` +
		`"instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"}]}`
	l := newScriptedVenue(t, func(c *ingesttest.Conn) func([]byte) {
		subscribed := false
		return func(m []byte) {
			if !subscribed { // the first message is the subscription
				subscribed = true
				s := string(m)
				subOK.Store(strings.Contains(s, `"instType":"SWAP"`) && strings.Contains(s, `"instType":"FUTURES"`) && strings.Contains(s, `liquidation-orders`))
				c.Send([]byte(`{"event":"subscribe","arg":{"channel":"liquidation-orders","instType":"SWAP"},"connId":"a1"}`))
				sendLines(c, lines)
				return
			}
			if string(m) != "ping" {
				return
			}
			c.Send([]byte("pong"))
			// The fresh push and the upgrade notice follow the first
			// heartbeat.
			if pings.Add(1) == 1 {
				c.Send([]byte(fresh))
				c.Send([]byte(`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a1"}`))
			}
		}
	})
	spec := OKXSpec(VenueConfig{StreamURL: l.URL("/ws/v5/public")}, offlineInstruments(t, event.OKX))
	spec.PingEvery = 20 * time.Millisecond
	got := runStream(t, spec, 8)
	if !subOK.Load() {
		t.Error("subscription did not ask for SWAP and FUTURES liquidation-orders")
	}
	for i, e := range got[:6] {
		if e.Flags&event.FlagBacklog == 0 {
			t.Errorf("replayed event %d not flagged backlog", i)
		}
	}
	if got[6].Flags&event.FlagBacklog != 0 || got[6].Side != event.Long || got[7].Side != event.Short {
		t.Errorf("fresh events: %+v %+v", got[6], got[7])
	}
	if bad, msg := NewOKXDecoder(nil).Control([]byte(`{"event":"notice","code":"64008","msg":"x"}`)); !bad || !strings.Contains(msg, "64008") {
		t.Errorf("notice not reported: %v %q", bad, msg)
	}
}

// TestBitMEXLoopback: welcome, subscribe ack, then the recorded table
// diffs; only inserts become events, update/delete never do; a partial
// image is flagged backlog; text ping gets "pong".
func TestBitMEXLoopback(t *testing.T) {
	lines := readLines(t, "frames/bitmex.jsonl")
	ctl := readLines(t, "frames/bitmex.control.jsonl")
	inserts := 0
	for _, l := range lines {
		if strings.Contains(string(l), `"action":"insert"`) {
			inserts++
		}
	}
	partial := []byte(`{"table":"liquidation","action":"partial","keys":["orderID"],"types":{},"filter":{},"data":[{"orderID":"p1","symbol":"XBTUSD","side":"Sell","price":90000.5,"leavesQty":100}]}`)
	var badQuery atomic.Bool
	l := newScriptedVenue(t, func(c *ingesttest.Conn) func([]byte) {
		if c.Request().URL.Query().Get("subscribe") != "liquidation" {
			badQuery.Store(true)
		}
		c.Send(ctl[2]) // welcome
		c.Send([]byte(`{"success":true,"subscribe":"liquidation","request":{"op":"subscribe","args":["liquidation"]}}`))
		c.Send(partial)
		sendLines(c, lines)
		return func(m []byte) {
			if string(m) == "ping" {
				c.Send([]byte("pong"))
			}
		}
	})
	spec := BitMEXSpec(VenueConfig{StreamURL: l.URL("/realtime?subscribe=liquidation")}, offlineInstruments(t, event.BitMEX))
	spec.PingEvery = 20 * time.Millisecond
	got := runStream(t, spec, inserts+1)
	if badQuery.Load() {
		t.Error("client did not subscribe through the URL")
	}
	if len(got) != inserts+1 {
		t.Errorf("%d events, want %d inserts + 1 partial", len(got), inserts)
	}
	if got[0].Flags&event.FlagBacklog == 0 || got[0].Notional != 100 {
		t.Errorf("partial row: %+v", got[0])
	}
	for _, e := range got[1:] {
		if e.Flags&event.FlagBacklog != 0 {
			t.Errorf("insert flagged backlog: %+v", e)
		}
	}
}

func offlineInstruments(t testing.TB, v event.Venue) *Instruments {
	t.Helper()
	in, err := NewInstruments(v, VenueConfig{Snapshots: liqembed.Instruments})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestOKXUpgradeNoticeRotates: OKX's 64008 notice says the connection will
// be closed for a service upgrade (about 30 s later) and to reconnect. The
// client brings a replacement up beside it and then closes the old one, a
// rotation without a gap, and the notice is no venue error. A liquidation
// priced 64008 is still a liquidation.
func TestOKXUpgradeNoticeRotates(t *testing.T) {
	l, err := ingesttest.NewVenue(event.OKX, ingesttest.LoopbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := OKXSpec(VenueConfig{StreamURL: l.URL(ingesttest.VenuePath(event.OKX))}, offlineInstruments(t, event.OKX))
	h := startHarness(t, spec, StreamOptions{Overlap: 50 * time.Millisecond})
	waitFor(t, 3*time.Second, "live", func() bool { return h.st.Live() == 1 })
	priced := ingesttest.Liquidation{Symbol: "BTC-USDT-SWAP", Side: event.Long, Price: "64008", Qty: "2", TimeMs: time.Now().Add(time.Hour).UnixMilli()}
	l.Broadcast(ingesttest.AppendOKX(nil, &priced))
	waitFor(t, 3*time.Second, "the liquidation priced 64008", func() bool { return h.count() == 1 })
	l.Broadcast([]byte(`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}`))
	rotations := h.set.GetOrCreateCounter(`liqbox_ingest_reconnects_total` + lbl(spec, 0, `,cause="rotation"`))
	waitFor(t, 3*time.Second, "the rotation", func() bool {
		return rotations.Get() == 1 && l.Accepted() == 2 && l.Clients() == 1 && h.st.Live() == 1
	})
	if g := h.gaps.list(); len(g) != 0 {
		t.Errorf("gaps %+v: the replacement was up before the old connection closed", g)
	}
	if n := h.metric(`liqbox_ingest_venue_errors_total` + lbl(spec, -1, "")); n != 0 {
		t.Errorf("%v venue errors: the notice is acted on, not reported", n)
	}
	fresh := ingesttest.Liquidation{Symbol: "BTC-USDT-SWAP", Side: event.Short, Price: "64100", Qty: "3", TimeMs: time.Now().Add(time.Hour).UnixMilli()}
	l.Broadcast(ingesttest.AppendOKX(nil, &fresh))
	waitFor(t, 3*time.Second, "a liquidation on the new connection", func() bool { return h.count() == 2 })
	evs, perRing := h.snapshot()
	if evs[0].Price != 64008 || evs[1].Side != event.Short || perRing[0] != 1 || perRing[1] != 1 {
		t.Errorf("events %+v, per ring %v: want one on each connection's ring", evs, perRing)
	}
}
