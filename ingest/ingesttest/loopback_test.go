package ingesttest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/event"
)

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func read(t *testing.T, ws *websocket.Conn, d time.Duration) ([]byte, error) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(d))
	_, b, err := ws.ReadMessage()
	return b, err
}

// TestCanaryServed: each venue's canary subscription gets the venue's ack
// (through VenueAnswer) and canary pushes at CanaryEvery; SilenceCanary
// stops the pushes while pings are still answered.
func TestCanaryServed(t *testing.T) {
	cases := []struct {
		v      event.Venue
		sub    string
		prefix string
	}{
		{event.BinanceUSDM, `{"method":"SUBSCRIBE","params":["btcusdt@markPrice@1s"],"id":7}`, `{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate"`},
		{event.Bybit, `{"op":"subscribe","args":["tickers.BTCUSDT"]}`, `{"topic":"tickers.BTCUSDT"`},
		{event.OKX, `{"op":"subscribe","args":[{"channel":"mark-price","instId":"BTC-USDT-SWAP"}]}`, `{"arg":{"channel":"mark-price","instId":"BTC-USDT-SWAP"},"data":`},
		{event.BitMEX, `{"op":"subscribe","args":["instrument:XBTUSD"]}`, `{"table":"instrument"`},
	}
	for _, c := range cases {
		t.Run(c.v.String(), func(t *testing.T) {
			l, err := NewVenue(c.v, LoopbackOptions{CanaryEvery: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ws := dial(t, l.URL(VenuePath(c.v)))
			ws.WriteMessage(websocket.TextMessage, []byte(c.sub))
			acked, canaries := false, 0
			for canaries < 3 {
				b, err := read(t, ws, 2*time.Second)
				if err != nil {
					t.Fatalf("after %d canaries: %v", canaries, err)
				}
				if bytes.HasPrefix(b, []byte(c.prefix)) {
					canaries++
				} else {
					acked = true
				}
			}
			if !acked {
				t.Error("subscription not acknowledged")
			}
			l.SilenceCanary(true)
			time.Sleep(50 * time.Millisecond) // let pushes in flight arrive
			for {
				if _, err := read(t, ws, 10*time.Millisecond); err != nil {
					break
				}
			}
			ws = dial(t, l.URL(VenuePath(c.v)))
			ws.WriteMessage(websocket.TextMessage, []byte(c.sub))
			pong := make(chan struct{}, 1)
			ws.SetPongHandler(func(string) error { pong <- struct{}{}; return nil })
			ws.WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(time.Second))
			deadline := time.Now().Add(300 * time.Millisecond)
			for time.Now().Before(deadline) {
				b, err := read(t, ws, time.Until(deadline))
				if err != nil {
					break
				}
				if bytes.HasPrefix(b, []byte(c.prefix)) {
					t.Fatalf("canary pushed while silenced: %s", b)
				}
			}
			select {
			case <-pong:
			default:
				t.Error("ping not answered while the canary is silent")
			}
		})
	}
}

// TestDropAfter: every connection is closed abruptly after DropAfter text
// frames, canary frames included.
func TestDropAfter(t *testing.T) {
	l, err := NewLoopback(LoopbackOptions{Path: "/market/stream", DropAfter: 3, CanaryEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for round := 0; round < 2; round++ {
		ws := dial(t, l.URL("/market/stream?streams=!forceOrder@arr/btcusdt@markPrice@1s"))
		n := 0
		for {
			if _, err := read(t, ws, 2*time.Second); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
					t.Errorf("closed with %v, want an abrupt close", err)
				}
				break
			}
			n++
		}
		if n != 3 {
			t.Errorf("round %d: %d frames before the drop, want 3", round, n)
		}
	}
	if l.Dropped() != 2 {
		t.Errorf("Dropped = %d, want 2", l.Dropped())
	}
}
