package ingest

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/event"
)

// A stream of bad frames is counted frame by frame but logged once per 10
// s, each line saying how many it stands for.
func TestBadFramesLoggedThrottled(t *testing.T) {
	var logs bytes.Buffer
	spec := BinanceUSDMSpec(VenueConfig{StreamURL: "ws://127.0.0.1:1/market/stream?streams=!forceOrder@arr"})
	st := NewStream(spec, StreamOptions{Conns: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sl := st.slots[0]
	cn := &conn{sl: sl, ring: sl.rings[0], started: time.Now(), alive: make(chan struct{}), keys: new(keyRing)}
	bad := []byte(`{"stream":"!forceOrder@arr","data":{"e":"forceOrder","o":{"s":"BTC\nUSDT"}}}`)
	t0 := time.Now()
	evs := make([]event.Event, 0, 8)
	for i := range 30 { // one a second for 30 s
		evs = cn.frame(websocket.TextMessage, bad, evs, t0.Add(time.Duration(i)*time.Second))
	}
	if got := st.m.decodeErrs.Get(); got != 30 {
		t.Fatalf("decode errors counted %d, want 30", got)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "cannot decode frame") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("%d log lines for 30 bad frames in 30 s, want 3:\n%s", len(lines), logs.String())
	}
	for i, want := range []string{"suppressed=0", "suppressed=9", "suppressed=9"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d %q lacks %s", i, lines[i], want)
		}
	}
}
