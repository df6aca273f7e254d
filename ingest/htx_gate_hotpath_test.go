package ingest

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// TestFrameAllocsHTXGate extends TestFrameAllocs to HTX (gzip frames
// inflated by the connection's reused inflater) and Gate: every frame
// but HTX's heartbeat (its answer is written, see
// TestRespondAnswerAllocs) is handled without allocating.
func TestFrameAllocsHTXGate(t *testing.T) {
	htxFrames := func(files ...string) [][]byte {
		var out [][]byte
		for _, f := range files {
			for _, l := range readLines(t, f) {
				if !strings.Contains(string(l), `"op":"ping"`) {
					out = append(out, gzipped(t, l))
				}
			}
		}
		return out
	}
	cases := []struct {
		name   string
		spec   Spec
		mt     int
		frames [][]byte
	}{
		{"htx", HTXSpec(VenueConfig{}, offlineInstruments(t, event.HTX), event.Inverse), websocket.BinaryMessage,
			htxFrames("frames/htx.jsonl", "frames/htx.control.jsonl")},
		{"gate", GateSpec(VenueConfig{}, offlineInstruments(t, event.Gate), event.Linear), websocket.TextMessage,
			append(readLines(t, "frames/gate.jsonl"), readLines(t, "frames/gate.control.jsonl")...)},
	}
	for _, c := range cases {
		st := NewStream(c.spec, StreamOptions{Conns: 2, RingSize: 1 << 16})
		sl := st.slots[0]
		cn := &conn{sl: sl, ring: sl.rings[0], started: time.Now(), alive: make(chan struct{}), keys: new(keyRing)}
		if c.spec.Inflate != nil {
			cn.inf = c.spec.Inflate()
		}
		evs := make([]event.Event, 0, 64)
		for i, f := range c.frames {
			if n := testing.AllocsPerRun(50, func() { evs = cn.frame(c.mt, f, evs, time.Now()) }); n != 0 {
				t.Errorf("%s frame %d: %v allocs per frame", c.name, i, n)
			}
		}
		if st.Live() != 1 {
			t.Errorf("%s: the frames did not prove the connection", c.name)
		}
		if n := st.m.decodeErrs.Get(); n != 0 {
			t.Errorf("%s: %d decode errors", c.name, n)
		}
	}
}

// TestRespondAnswerAllocs: answering a venue's control message on a real
// connection (HTX's heartbeat, Deribit's test_request, both through
// Spec.Respond) costs the WebSocket writer's own allocation and no more,
// writes the answer, and never hands the frame to the decoder. It happens
// every few seconds per connection, never for a liquidation.
func TestRespondAnswerAllocs(t *testing.T) {
	cases := []struct {
		name  string
		spec  Spec
		mt    int
		frame []byte
		want  string
	}{
		{"htx", HTXSpec(VenueConfig{}, nil, event.Linear), websocket.BinaryMessage,
			gzipped(t, []byte(`{"op":"ping","ts":"1789676447110"}`)), `{"op":"pong","ts":"1789676447110"}`},
		{"deribit", DeribitSpec(VenueConfig{}, nil), websocket.TextMessage,
			ingesttest.DeribitTestRequest, string(deribitTest)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make(chan string, 1000)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				for {
					_, m, err := ws.ReadMessage()
					if err != nil {
						return
					}
					select {
					case got <- string(m):
					default:
					}
				}
			}))
			defer srv.Close()
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			st := NewStream(c.spec, StreamOptions{})
			sl := st.slots[0]
			cn := &conn{sl: sl, ws: ws, ring: sl.rings[0], started: time.Now(), alive: make(chan struct{})}
			if c.spec.Inflate != nil {
				cn.inf = c.spec.Inflate()
			}
			evs := make([]event.Event, 0, 8)
			// The least of three runs: a collection in the middle of one
			// empties the pools the socket's writer and the inflater draw
			// from, which a run then pays for once (seen under qemu).
			n := math.Inf(1)
			for range 3 {
				n = min(n, testing.AllocsPerRun(100, func() { evs = cn.frame(c.mt, c.frame, evs, time.Now()) }))
			}
			t.Logf("%v allocs per control message answered", n)
			if n > 2 {
				t.Errorf("%v allocs per control message answered, want at most gorilla's writer", n)
			}
			if m := <-got; m != c.want {
				t.Errorf("answered %s, want %s", m, c.want)
			}
			if st.decoded.Load() != 0 {
				t.Error("the control message was handed to the decoder")
			}
		})
	}
}
