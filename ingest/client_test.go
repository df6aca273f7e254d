package ingest

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/ring"
)

// fakeGaps records gaps in memory: the store's ledger stand-in.
type fakeGaps struct {
	mu     sync.Mutex // guards gaps and opened
	gaps   []Gap
	opened []Gap
}

func (f *fakeGaps) OpenGap(g Gap) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, g)
	return nil
}

func (f *fakeGaps) RecordGap(g Gap) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gaps = append(f.gaps, g)
	return nil
}

func (f *fakeGaps) openList() []Gap {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Gap(nil), f.opened...)
}

func (f *fakeGaps) list() []Gap {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Gap(nil), f.gaps...)
}

// harness runs one real Stream and collects what it pushes into its rings
// from a single consumer goroutine, as the pipeline would.
type harness struct {
	t     *testing.T
	st    *Stream
	set   *metrics.Set
	gaps  *fakeGaps
	waker *ring.Waker

	mu     sync.Mutex // guards events and perRing
	events []event.Event
	perRg  []int

	cancel context.CancelFunc
	done   chan struct{}
}

func startHarness(t *testing.T, spec Spec, o StreamOptions) *harness {
	t.Helper()
	h := &harness{t: t, set: metrics.NewSet(), gaps: &fakeGaps{}, waker: ring.NewWaker(), done: make(chan struct{})}
	o.Metrics, o.Gaps, o.Waker = h.set, h.gaps, h.waker
	if o.BackoffMin == 0 {
		o.BackoffMin, o.BackoffMax = 20*time.Millisecond, 80*time.Millisecond
	}
	if o.MinDialInterval == 0 {
		o.MinDialInterval = 10 * time.Millisecond
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	h.st = NewStream(spec, o)
	rings := h.st.Rings()
	h.perRg = make([]int, len(rings))
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	runDone := make(chan error, 1)
	go func() { runDone <- h.st.Run(ctx) }()
	go func() {
		defer close(h.done)
		var e event.Event
		for {
			h.waker.Wait(ctx.Done(), rings...)
			for i, r := range rings {
				for r.Pop(&e) {
					h.mu.Lock()
					h.events = append(h.events, e)
					h.perRg[i]++
					h.mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
				if err := <-runDone; err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
				return
			default:
			}
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func (h *harness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

func (h *harness) snapshot() ([]event.Event, []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]event.Event(nil), h.events...), append([]int(nil), h.perRg...)
}

// metric returns the value of the sample whose name and labels start with
// prefix (first match), or -1.
func (h *harness) metric(prefix string) float64 {
	var b bytes.Buffer
	h.set.WritePrometheus(&b)
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, prefix) {
			f, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// waitFor polls cond every 5 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// usdmFrame is a combined-stream Binance USD-M frame whose quantity carries
// id, so every frame is a distinct liquidation.
func usdmFrame(id int) []byte {
	b := []byte(`{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1700000000001,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"`)
	b = strconv.AppendInt(b, int64(id+1), 10)
	b = append(b, `","p":"50000","ap":"50010.5","X":"FILLED","l":"1","z":"1","T":`...)
	b = strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	return append(b, `}}}`...)
}

func loopbackSpec(l *ingesttest.Loopback) Spec {
	spec := BinanceUSDMSpec(VenueConfig{StreamURL: l.URL("/market/stream?streams=!forceOrder@arr")})
	spec.MaxLifetime = 0
	return spec
}

func newTestLoopback(t *testing.T, o ingesttest.LoopbackOptions) *ingesttest.Loopback {
	t.Helper()
	if o.Path == "" {
		o.Path = "/market/stream"
	}
	l, err := ingesttest.NewLoopback(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func waitClients(t *testing.T, l *ingesttest.Loopback, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.WaitClients(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// TestStreamAbruptClose: the exchange drops every connection without a close
// frame; the client is back within the backoff bound, counts the reconnect,
// records the blind interval as a gap and gets the frames sent after.
func TestStreamAbruptClose(t *testing.T) {
	l := newTestLoopback(t, ingesttest.LoopbackOptions{})
	h := startHarness(t, loopbackSpec(l), StreamOptions{BackoffMin: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond})
	waitClients(t, l, 1)
	l.Broadcast(usdmFrame(0))
	waitFor(t, 2*time.Second, "first event", func() bool { return h.count() == 1 })

	for round := 1; round <= 3; round++ {
		before := l.Accepted()
		dropped := time.Now()
		l.DropAll()
		waitFor(t, 2*time.Second, "reconnect", func() bool { return l.Accepted() > before && l.Clients() == 1 })
		// First backoff is at most BackoffMin (jittered into its upper half);
		// 300 ms leaves room for the dial on a loaded machine.
		if d := time.Since(dropped); d > 80*time.Millisecond+300*time.Millisecond {
			t.Errorf("round %d: reconnected after %v, beyond the backoff bound", round, d)
		}
		l.Broadcast(usdmFrame(round))
		waitFor(t, 2*time.Second, "event after reconnect", func() bool { return h.count() == round+1 })
	}
	waitFor(t, time.Second, "gaps", func() bool { return len(h.gaps.list()) == 3 })
	for _, g := range h.gaps.list() {
		if g.Venue != "binance-usdm" || g.Stream != "!forceOrder@arr" || g.Cause != "read_error" || !g.End.After(g.Start) {
			t.Errorf("gap %+v: want binance-usdm read_error with End after Start", g)
		}
	}
	if got := h.metric(`liqbox_ingest_reconnects_total{venue="binance-usdm",stream="!forceOrder@arr",conn="0",cause="read_error"}`); got != 3 {
		t.Errorf("read_error reconnects = %v, want 3", got)
	}
	if got := h.metric(`liqbox_ingest_gaps_total`); got != 3 {
		t.Errorf("liqbox_ingest_gaps_total = %v, want 3", got)
	}
}

// TestStreamHalfOpen: the connection stays open but nothing arrives, not
// even pings. The read deadline (StaleAfter) declares it dead; the client
// reconnects and counts it as stale.
func TestStreamHalfOpen(t *testing.T) {
	l := newTestLoopback(t, ingesttest.LoopbackOptions{})
	spec := loopbackSpec(l)
	spec.StaleAfter = 200 * time.Millisecond
	h := startHarness(t, spec, StreamOptions{})
	waitClients(t, l, 1)
	l.Silence(true)
	t0 := time.Now()
	stale := `liqbox_ingest_reconnects_total{venue="binance-usdm",stream="!forceOrder@arr",conn="0",cause="stale"}`
	waitFor(t, 3*time.Second, "stale detection", func() bool { return h.metric(stale) >= 1 })
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Errorf("declared stale after %v, before StaleAfter", d)
	}
	l.Silence(false)
	waitClients(t, l, 1)
	waitFor(t, 3*time.Second, "live connection", func() bool { return h.st.Live() == 1 })
	// A frame broadcast now may still reach a server-side socket the client
	// has already abandoned; keep sending until one arrives.
	i := 0
	waitFor(t, 3*time.Second, "event after recovery", func() bool {
		i++
		l.Broadcast(usdmFrame(i))
		return h.count() >= 1
	})
	waitFor(t, time.Second, "gap", func() bool { return len(h.gaps.list()) >= 1 })
	if g := h.gaps.list()[0]; g.Cause != "stale" {
		t.Errorf("gap cause %q, want stale", g.Cause)
	}
}

// TestStreamGarbageAndOversized: garbage is counted and skipped without
// dropping the connection; a frame over MaxFrame ends the connection (the
// read limit is the only defence against a memory bomb), is counted, and
// the client reconnects and carries on.
func TestStreamGarbageAndOversized(t *testing.T) {
	l := newTestLoopback(t, ingesttest.LoopbackOptions{})
	h := startHarness(t, loopbackSpec(l), StreamOptions{MaxFrame: 4096})
	waitClients(t, l, 1)
	for _, g := range []string{"not json", `{"stream":"!forceOrder@arr","data":{"o":{"s":1}}}`, "\x00\xff\xfe", `[1,2`, `{"e":"forceOrder","o":{"S":"SELL","q":"x","p":"y"}}`} {
		l.Broadcast([]byte(g))
	}
	l.Broadcast(usdmFrame(0))
	waitFor(t, 2*time.Second, "event after garbage", func() bool { return h.count() == 1 })
	if got := h.metric(`liqbox_ingest_decode_errors_total`); got < 4 {
		t.Errorf("decode errors = %v, want at least 4", got)
	}
	if l.Accepted() != 1 {
		t.Errorf("garbage caused a reconnect: %d connections", l.Accepted())
	}
	big := append([]byte(`{"stream":"x","data":"`), bytes.Repeat([]byte("A"), 64<<10)...)
	l.Broadcast(append(big, `"}`...))
	waitFor(t, 3*time.Second, "reconnect after oversized frame", func() bool { return l.Accepted() == 2 && l.Clients() == 1 })
	l.Broadcast(usdmFrame(1))
	waitFor(t, 2*time.Second, "event after oversized", func() bool { return h.count() == 2 })
	if got := h.metric(`liqbox_ingest_oversized_frames_total`); got != 1 {
		t.Errorf("oversized frames = %v, want 1", got)
	}
}

// TestStreamPings: server pings are answered with pongs carrying the same
// payload and keep a quiet connection alive past StaleAfter; the client's
// own keepalive pings are answered by the server and give an RTT.
func TestStreamPings(t *testing.T) {
	// No canary: nothing but pings reaches the client. Each ping carries
	// its own payload, so an echo is told from any other pong.
	l := newTestLoopback(t, ingesttest.LoopbackOptions{NoCanary: true, PingEvery: 40 * time.Millisecond,
		PingPayload: func(n int) []byte { return []byte("hb-" + strconv.Itoa(n)) }})
	spec := loopbackSpec(l)
	spec.StaleAfter = 150 * time.Millisecond
	spec.PingEvery = 30 * time.Millisecond
	h := startHarness(t, spec, StreamOptions{})
	time.Sleep(600 * time.Millisecond) // four times StaleAfter with no data frame
	h.stop()
	if n := l.Pongs(); n < 5 {
		t.Errorf("server got %d pongs, want at least 5", n)
	}
	if n := l.StrayPongs(); n != 0 {
		t.Errorf("%d pongs did not echo a ping's payload", n)
	}
	if got := h.metric(`liqbox_ingest_connects_total`); got != 1 {
		t.Errorf("%v connects, want 1: pings must keep a quiet connection alive", got)
	}
	if got := h.metric(`liqbox_ingest_keepalive_rtt_seconds_count`); got < 1 {
		t.Errorf("keepalive RTT observations = %v, want some", got)
	}
}

// TestStreamRotation: a planned make-before-break rotation (the 24 h cut,
// shortened) loses no event: frames stream continuously across several
// rotations, every one arrives, and both of the slot's rings carried data.
func TestStreamRotation(t *testing.T) {
	l := newTestLoopback(t, ingesttest.LoopbackOptions{})
	spec := loopbackSpec(l)
	spec.MaxLifetime = 250 * time.Millisecond
	h := startHarness(t, spec, StreamOptions{Overlap: 60 * time.Millisecond})
	waitClients(t, l, 1)
	const n = 900
	for i := 0; i < n; i++ {
		l.Broadcast(usdmFrame(i))
		time.Sleep(time.Millisecond)
	}
	rot := `liqbox_ingest_reconnects_total{venue="binance-usdm",stream="!forceOrder@arr",conn="0",cause="rotation"}`
	waitFor(t, 3*time.Second, "all events", func() bool {
		evs, _ := h.snapshot()
		seen := map[float64]bool{}
		for _, e := range evs {
			seen[e.Qty] = true
		}
		return len(seen) == n
	})
	evs, perRing := h.snapshot()
	if got := h.metric(rot); got < 2 {
		t.Errorf("%v rotations, want at least 2 in %d ms of streaming", got, n)
	}
	if perRing[0] == 0 || perRing[1] == 0 {
		t.Errorf("events per ring %v: a rotation must move to the other ring", perRing)
	}
	if len(evs) < n {
		t.Errorf("%d events for %d frames", len(evs), n)
	}
	if g := h.gaps.list(); len(g) != 0 {
		t.Errorf("rotation recorded gaps %+v: make-before-break must leave none", g)
	}
	// Rotations go on every 250 ms, and during each 60 ms overlap two
	// connections are live by design: wait for the steady state between.
	waitFor(t, 2*time.Second, "one live connection between rotations", func() bool { return h.st.Live() == 1 })
	if n := h.st.Live(); n > 2 {
		t.Errorf("%d live connections: a slot holds at most two, and only while rotating", n)
	}
}

// TestStreamSubscribeErrors: the subscribe step fails twice (a REST symbol
// list down, say), then works; the venue then answers with an error reply,
// which is counted as a venue error without dropping the connection.
func TestStreamSubscribeErrors(t *testing.T) {
	var venueReply atomic.Value
	venueReply.Store([]byte(`{"code":2,"msg":"Invalid request: unknown stream"}`))
	l := newTestLoopback(t, ingesttest.LoopbackOptions{OnMessage: func(msg []byte) [][]byte {
		if !bytes.Contains(msg, []byte("!forceOrder@arr")) {
			return nil // the canary's subscription is accepted
		}
		return [][]byte{venueReply.Load().([]byte)}
	}})
	spec := loopbackSpec(l)
	var tries atomic.Int64
	spec.Subscribe = func(ctx context.Context) ([][]byte, error) {
		if tries.Add(1) <= 2 {
			return nil, errors.New("symbol list unavailable")
		}
		return [][]byte{[]byte(`{"method":"SUBSCRIBE","params":["!forceOrder@arr"],"id":1}`)}, nil
	}
	t0 := time.Now()
	h := startHarness(t, spec, StreamOptions{BackoffMin: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond})
	waitFor(t, 3*time.Second, "venue error counted", func() bool { return h.metric(`liqbox_ingest_venue_errors_total`) == 1 })
	// Two failures: backoffs of at most 20 ms and 40 ms, plus dials.
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("subscribed after %v", d)
	}
	if got := h.metric(`liqbox_ingest_reconnects_total{venue="binance-usdm",stream="!forceOrder@arr",conn="0",cause="subscribe"}`); got != 2 {
		t.Errorf("subscribe failures = %v, want 2", got)
	}
	l.Broadcast(usdmFrame(0))
	waitFor(t, 2*time.Second, "event", func() bool { return h.count() == 1 })
	if got := h.metric(`liqbox_ingest_decode_errors_total`); got != 0 {
		t.Errorf("an error reply counted as %v decode errors, want 0", got)
	}
}

// TestStreamSlowHandshake: a server that accepts TCP but never answers the
// WebSocket handshake is given up on after DialTimeout, counted, retried.
func TestStreamSlowHandshake(t *testing.T) {
	l := newTestLoopback(t, ingesttest.LoopbackOptions{})
	l.StallHandshake(true)
	h := startHarness(t, loopbackSpec(l), StreamOptions{DialTimeout: 100 * time.Millisecond})
	waitFor(t, 3*time.Second, "two timed-out dials", func() bool { return l.Stalled() >= 2 })
	h.stop()
	if got := h.metric(`liqbox_ingest_reconnects_total{venue="binance-usdm",stream="!forceOrder@arr",conn="0",cause="dial"}`); got < 2 {
		t.Errorf("dial failures = %v, want at least 2", got)
	}
}

// TestDecodersInspectControl: every venue decoder can tell the venue's
// error replies apart, which the client relies on to surface them.
func TestDecodersInspectControl(t *testing.T) {
	for _, v := range []event.Venue{event.BinanceUSDM, event.BinanceCOINM, event.Bybit, event.OKX, event.BitMEX} {
		d, err := NewDecoder(v, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.(ControlInspector); !ok {
			t.Errorf("%s decoder does not implement ControlInspector", v)
		}
	}
}
