package ingesttest

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
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

// TestOnConnectScript: a script sees each connection's index and request,
// and what it queues (frames, a ping, a close) arrives in order; the close
// is a handshake (code and text reach the client after every frame queued
// before it, and nothing after it), and the returned handler gets the
// connection's messages after OnMessage.
func TestOnConnectScript(t *testing.T) {
	type seen struct {
		idx   int
		query string
	}
	conns := make(chan seen, 4)
	var replies atomic.Int64
	l, err := NewLoopback(LoopbackOptions{
		OnMessage: func(msg []byte) [][]byte { return [][]byte{[]byte("global:" + string(msg))} },
		OnConnect: func(c *Conn) func([]byte) {
			conns <- seen{c.Index(), c.Request().URL.Query().Get("n")}
			c.Send([]byte("one"))
			c.Ping([]byte("p-first"))
			c.Send([]byte("two"))
			return func(msg []byte) {
				replies.Add(1)
				c.Send([]byte("script:" + string(msg)))
				if string(msg) == "bye" {
					c.Close(websocket.CloseGoingAway, "24h")
					c.Send([]byte("after the close"))
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 2; i++ {
		ws := dial(t, l.URL("/?n="+strconv.Itoa(i)))
		pinged := make(chan string, 1)
		ws.SetPingHandler(func(s string) error { pinged <- s; return nil })
		if s := <-conns; s.idx != i || s.query != strconv.Itoa(i) {
			t.Errorf("connection %d: script saw index %d, query n=%q", i, s.idx, s.query)
		}
		ws.WriteMessage(websocket.TextMessage, []byte("bye"))
		var got []string
		var closeErr error
		for {
			b, err := read(t, ws, 2*time.Second)
			if err != nil {
				closeErr = err
				break
			}
			got = append(got, string(b))
		}
		want := []string{"one", "two", "global:bye", "script:bye"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("connection %d: frames %q, want %q", i, got, want)
		}
		if !websocket.IsCloseError(closeErr, websocket.CloseGoingAway) || !strings.Contains(closeErr.Error(), "24h") {
			t.Errorf("connection %d ended with %v, want the close frame 1001 24h", i, closeErr)
		}
		select {
		case p := <-pinged:
			if p != "p-first" {
				t.Errorf("ping payload %q", p)
			}
		default:
			t.Errorf("connection %d: the script's ping did not arrive before the close", i)
		}
		ws.Close()
	}
	if replies.Load() != 2 {
		t.Errorf("script handler got %d messages, want 2", replies.Load())
	}
}

// TestCloseWaitsForEcho: after the exchange's close frame the connection
// lives until the client echoes it, so frames in flight are not lost to a
// reset; a client that never echoes is cut after CloseWait.
func TestCloseWaitsForEcho(t *testing.T) {
	const wait = 300 * time.Millisecond
	l, err := NewLoopback(LoopbackOptions{CloseWait: wait, OnConnect: func(c *Conn) func([]byte) {
		c.Close(websocket.CloseGoingAway, "")
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ws, _, err := websocket.DefaultDialer.Dial(l.URL("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	// A client that does not echo the close frame.
	ws.SetCloseHandler(func(int, string) error { return nil })
	if _, err := read(t, ws, time.Second); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("read %v, want the close frame", err)
	}
	if err := l.WaitClients(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(wait / 3)
	if l.Clients() != 1 {
		t.Fatal("closed before the client could echo")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*wait)
	defer cancel()
	for l.Clients() != 0 {
		select {
		case <-ctx.Done():
			t.Fatal("a client that never echoes the close was not cut")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestPongsCounted: PingPayload numbers the pings; echoes are counted by
// Pongs, a pong that echoes no ping also by StrayPongs.
func TestPongsCounted(t *testing.T) {
	l, err := NewLoopback(LoopbackOptions{PingEvery: 10 * time.Millisecond,
		PingPayload: func(n int) []byte { return []byte("n" + strconv.Itoa(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ws := dial(t, l.URL("/"))
	var payloads []string
	ws.SetPingHandler(func(s string) error {
		payloads = append(payloads, s)
		return ws.WriteControl(websocket.PongMessage, []byte(s), time.Now().Add(time.Second))
	})
	read := make(chan struct{})
	go func() {
		defer close(read)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	for l.Pongs() < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if l.Pongs() < 3 || l.StrayPongs() != 0 {
		t.Fatalf("%d pongs, %d stray; want at least 3 echoes", l.Pongs(), l.StrayPongs())
	}
	ws.WriteControl(websocket.PongMessage, []byte("made-up"), time.Now().Add(time.Second))
	for l.StrayPongs() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if l.StrayPongs() != 1 {
		t.Errorf("%d stray pongs after a made-up one, want 1", l.StrayPongs())
	}
	ws.Close()
	<-read
	for i, p := range payloads[:3] {
		if p != "n"+strconv.Itoa(i) {
			t.Errorf("ping %d carried %q", i, p)
		}
	}
}

// TestStallHandshake: a stalled handshake never completes, so the client's
// handshake timeout ends it; Close does not wait for it; turned off, the
// exchange answers again.
func TestStallHandshake(t *testing.T) {
	l, err := NewLoopback(LoopbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.StallHandshake(true)
	d := websocket.Dialer{HandshakeTimeout: 100 * time.Millisecond}
	if ws, _, err := d.Dial(l.URL("/"), nil); err == nil {
		ws.Close()
		t.Fatal("a stalled handshake completed")
	}
	if l.Stalled() != 1 || l.Accepted() != 0 {
		t.Errorf("stalled %d, accepted %d; want 1, 0", l.Stalled(), l.Accepted())
	}
	l.StallHandshake(false)
	ws := dial(t, l.URL("/"))
	ws.Close()
	// A handshake stalled at Close must not hold Close up.
	l.StallHandshake(true)
	go func() {
		if ws, _, err := websocket.DefaultDialer.Dial(l.URL("/"), nil); err == nil {
			ws.Close()
		}
	}()
	for l.Stalled() != 2 {
		time.Sleep(5 * time.Millisecond)
	}
	t0 := time.Now()
	l.Close()
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Close took %v with a stalled handshake", d)
	}
}
