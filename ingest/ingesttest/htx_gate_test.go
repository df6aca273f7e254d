package ingesttest

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/event"
)

func inflate(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v (%q)", err, b)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestHTXVenue: HTX's loopback gzips every frame into a binary message,
// acknowledges subscriptions, pushes the funding_rate canary, sends the
// heartbeat with a quoted ts, counts the answers, and cuts off a client
// that leaves five unanswered with {"op":"close"}.
func TestHTXVenue(t *testing.T) {
	l, err := NewVenue(event.HTX, LoopbackOptions{HeartbeatEvery: 20 * time.Millisecond, CanaryEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ws := dial(t, l.URL(VenuePath(event.HTX)))
	ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"sub","cid":"c1","topic":"public.BTC-USDT.funding_rate"}`))
	var acked, canaries, pings int
	// The loopback counts an answer once its reader has taken it, which
	// can be after the client has read the next ping; keep answering
	// until it has counted one rather than reading the counter once.
	deadline := time.Now().Add(5 * time.Second)
	for canaries < 2 || pings < 2 || acked == 0 || l.HeartbeatsAnswered() < 1 {
		ws.SetReadDeadline(deadline)
		mt, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %d canaries, %d pings: %v", canaries, pings, err)
		}
		if mt != websocket.BinaryMessage {
			t.Fatalf("message type %d, want binary", mt)
		}
		s := inflate(t, b)
		switch {
		case strings.HasPrefix(s, `{"op":"sub","cid":"c1","topic":"public.BTC-USDT.funding_rate","ts":`) && strings.HasSuffix(s, `"err-code":0}`):
			acked++
		case strings.HasPrefix(s, `{"op":"notify","topic":"public.BTC-USDT.funding_rate"`):
			canaries++
		case strings.HasPrefix(s, `{"op":"ping","ts":"`):
			pings++
			ts := strings.TrimSuffix(strings.TrimPrefix(s, `{"op":"ping","ts":`), "}")
			ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"pong","ts":`+ts+`}`))
		default:
			t.Fatalf("unexpected %s", s)
		}
	}
	// Now stop answering: five heartbeats later, the close notice and the end.
	var last string
	for {
		ws.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			break
		}
		last = inflate(t, b)
	}
	if last != `{"op":"close","ts":0}` || l.HeartbeatKicks() != 1 {
		t.Errorf("last frame %s, %d kicks; want the close notice and one kick", last, l.HeartbeatKicks())
	}
}

// TestGateVenue: Gate's loopback records the handshake headers, acks
// subscriptions with {"status":"success"}, answers futures.ping and pushes
// the tickers canary.
func TestGateVenue(t *testing.T) {
	l, err := NewVenue(event.Gate, LoopbackOptions{CanaryEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ws, _, err := websocket.DefaultDialer.Dial(l.URL(VenuePath(event.Gate)), http.Header{"X-Gate-Size-Decimal": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"time":1,"channel":"futures.tickers","event":"subscribe","payload":["BTC_USDT"]}`))
	ws.WriteMessage(websocket.TextMessage, []byte(`{"time":1,"channel":"futures.ping"}`))
	var acked, ponged, canaries int
	for canaries < 2 || acked == 0 || ponged == 0 {
		b, err := read(t, ws, 2*time.Second)
		if err != nil {
			t.Fatalf("after %d canaries: %v", canaries, err)
		}
		s := string(b)
		switch {
		case strings.Contains(s, `"channel":"futures.tickers","event":"subscribe","result":{"status":"success"}`):
			acked++
		case strings.Contains(s, `"channel":"futures.pong"`):
			ponged++
		case strings.Contains(s, `"channel":"futures.tickers","event":"update","result":[{"contract":"BTC_USDT"`):
			canaries++
		default:
			t.Fatalf("unexpected %s", s)
		}
	}
	if l.LastHeader().Get("X-Gate-Size-Decimal") != "1" {
		t.Errorf("headers %v", l.LastHeader())
	}
}
