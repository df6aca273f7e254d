package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	liqembed "github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
)

// wsVenue is a loopback WebSocket server; serve runs once per accepted
// connection with the connection's index (0 for the first).
type wsVenue struct {
	srv   *httptest.Server
	conns atomic.Int64
	wg    sync.WaitGroup
}

func newWSVenue(t *testing.T, serve func(t *testing.T, ws *websocket.Conn, r *http.Request, idx int)) *wsVenue {
	t.Helper()
	v := &wsVenue{}
	up := websocket.Upgrader{}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		v.wg.Add(1)
		defer v.wg.Done()
		defer ws.Close()
		serve(t, ws, r, int(v.conns.Add(1)-1))
	}))
	t.Cleanup(func() { v.srv.CloseClientConnections(); v.srv.Close(); v.wg.Wait() })
	return v
}

func (v *wsVenue) url(pathQuery string) string {
	return "ws" + strings.TrimPrefix(v.srv.URL, "http") + pathQuery
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

// writeLines sends the lines of a testdata frames file as text frames.
func writeLines(t *testing.T, ws *websocket.Conn, lines [][]byte) error {
	for _, l := range lines {
		if err := ws.WriteMessage(websocket.TextMessage, l); err != nil {
			return err
		}
	}
	return nil
}

// readUntilClosed drains the client's frames, answering each with reply
// (when non-nil), until the connection ends.
func readUntilClosed(ws *websocket.Conn, reply func(msg []byte) []byte) {
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if reply != nil {
			if out := reply(msg); out != nil {
				if ws.WriteMessage(websocket.TextMessage, out) != nil {
					return
				}
			}
		}
	}
}

// TestBinanceUSDMLoopback: the server checks the /market/stream path, pings
// with WebSocket control frames, sends control replies and every recorded
// frame, then cuts the connection as Binance does at 24 h; the client comes
// back and gets the rest.
func TestBinanceUSDMLoopback(t *testing.T) {
	lines := readLines(t, "frames/binance_usdm.jsonl")
	ctl := readLines(t, "frames/binance_usdm.control.jsonl")
	var badPath atomic.Bool
	v := newWSVenue(t, func(t *testing.T, ws *websocket.Conn, r *http.Request, idx int) {
		if r.URL.Path != "/market/stream" || r.URL.Query().Get("streams") != "!forceOrder@arr" {
			badPath.Store(true)
		}
		ws.WriteControl(websocket.PingMessage, []byte("hb"), time.Now().Add(time.Second))
		writeLines(t, ws, ctl)
		if idx == 0 {
			writeLines(t, ws, lines[:4])
			ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "24h"), time.Now().Add(time.Second))
			// Read what the client sent (its subscription, its ping) and
			// its close reply: closing with unread data would reset the
			// connection and lose the frames still in flight.
			ws.SetReadDeadline(time.Now().Add(2 * time.Second))
			readUntilClosed(ws, nil)
			return
		}
		writeLines(t, ws, lines[4:])
		readUntilClosed(ws, nil)
	})
	spec := BinanceUSDMSpec(VenueConfig{StreamURL: v.url("/market/stream?streams=!forceOrder@arr")})
	got := runStream(t, spec, len(lines))
	if badPath.Load() {
		t.Error("client did not use the /market/stream path")
	}
	if v.conns.Load() < 2 {
		t.Errorf("%d connections, want a reconnect after the cut", v.conns.Load())
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
	v := newWSVenue(t, func(t *testing.T, ws *websocket.Conn, r *http.Request, idx int) {
		writeLines(t, ws, lines)
		readUntilClosed(ws, nil)
	})
	cfg := VenueConfig{StreamURL: v.url("/stream?streams=!forceOrder@arr"), RESTURL: rest.URL, Snapshots: liqembed.Instruments}
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
	v := newWSVenue(t, func(t *testing.T, ws *websocket.Conn, r *http.Request, idx int) {
		topics := map[string]bool{}
		ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		ws.SetReadDeadline(time.Time{})
		for _, a := range strings.Split(string(msg), `"`) {
			if strings.HasPrefix(a, "allLiquidation.") {
				topics[a] = true
			}
		}
		ws.WriteMessage(websocket.TextMessage, []byte(`{"success":true,"ret_msg":"","conn_id":"c1","req_id":"","op":"subscribe"}`))
		var last []byte
		for _, l := range lines {
			topic := strings.Split(string(l), `"`)[3]
			if topics[topic] {
				if last != nil {
					ws.WriteMessage(websocket.TextMessage, last)
				}
				last = l
			}
		}
		// The last liquidation follows the first heartbeat, so the test
		// sees both before it stops the client.
		readUntilClosed(ws, func(m []byte) []byte {
			if strings.Contains(string(m), `"op":"ping"`) {
				if pings.Add(1) == 1 {
					ws.WriteMessage(websocket.TextMessage, []byte(`{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"","op":"ping"}`))
					return last
				}
				return []byte(`{"success":true,"ret_msg":"pong","conn_id":"c1","req_id":"","op":"ping"}`)
			}
			return nil
		})
	})
	inst, err := NewInstruments(event.Bybit, VenueConfig{RESTURL: rest.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	spec := BybitSpec(VenueConfig{StreamURL: v.url("/v5/public/linear")}, inst, event.Linear)
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
	v := newWSVenue(t, func(t *testing.T, ws *websocket.Conn, r *http.Request, idx int) {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		s := string(msg)
		subOK.Store(strings.Contains(s, `"instType":"SWAP"`) && strings.Contains(s, `"instType":"FUTURES"`) && strings.Contains(s, `liquidation-orders`))
		ws.WriteMessage(websocket.TextMessage, []byte(`{"event":"subscribe","arg":{"channel":"liquidation-orders","instType":"SWAP"},"connId":"a1"}`))
		writeLines(t, ws, lines)
		// The fresh push and the upgrade notice follow the first heartbeat,
		// written by this goroutine only (one writer per connection).
		readUntilClosed(ws, func(m []byte) []byte {
			if string(m) != "ping" {
				return nil
			}
			if pings.Add(1) == 1 {
				ws.WriteMessage(websocket.TextMessage, []byte("pong"))
				ws.WriteMessage(websocket.TextMessage, []byte(fresh))
				return []byte(`{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a1"}`)
			}
			return []byte("pong")
		})
	})
	spec := OKXSpec(VenueConfig{StreamURL: v.url("/ws/v5/public")}, offlineInstruments(t, event.OKX))
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
	v := newWSVenue(t, func(t *testing.T, ws *websocket.Conn, r *http.Request, idx int) {
		if r.URL.Query().Get("subscribe") != "liquidation" {
			badQuery.Store(true)
		}
		ws.WriteMessage(websocket.TextMessage, ctl[2]) // welcome
		ws.WriteMessage(websocket.TextMessage, []byte(`{"success":true,"subscribe":"liquidation","request":{"op":"subscribe","args":["liquidation"]}}`))
		ws.WriteMessage(websocket.TextMessage, partial)
		writeLines(t, ws, lines)
		readUntilClosed(ws, func(m []byte) []byte {
			if string(m) == "ping" {
				return []byte("pong")
			}
			return nil
		})
	})
	spec := BitMEXSpec(VenueConfig{StreamURL: v.url("/realtime?subscribe=liquidation")}, offlineInstruments(t, event.BitMEX))
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
