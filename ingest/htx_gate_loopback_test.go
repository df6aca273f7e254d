package ingest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// sent records what clients send a loopback exchange, beside the venue's
// own answers.
type sent struct {
	mu   sync.Mutex
	msgs []string
}

func (s *sent) answer(v event.Venue) func([]byte) [][]byte {
	answer := ingesttest.VenueAnswer(v)
	return func(m []byte) [][]byte {
		s.mu.Lock()
		s.msgs = append(s.msgs, string(m))
		s.mu.Unlock()
		return answer(m)
	}
}

func (s *sent) has(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// popAll drains the stream's rings.
func popAll(st *Stream) []event.Event {
	var out []event.Event
	var e event.Event
	for _, r := range st.Rings() {
		for r.Pop(&e) {
			out = append(out, e)
		}
	}
	return out
}

// collect pops events until want arrived or d passed.
func collectEvents(t *testing.T, st *Stream, want int, d time.Duration) []event.Event {
	t.Helper()
	var got []event.Event
	waitFor(t, d, "events", func() bool {
		got = append(got, popAll(st)...)
		return len(got) >= want
	})
	return got
}

// htxLoopbacks starts HTX's two notification hosts on loopback, with a
// fast heartbeat and canary, recording what the client sends each.
func htxLoopbacks(t *testing.T, o ingesttest.LoopbackOptions) (lin, inv *ingesttest.Loopback, linSent, invSent *sent) {
	t.Helper()
	linSent, invSent = &sent{}, &sent{}
	var err error
	o.OnMessage = linSent.answer(event.HTX)
	if lin, err = ingesttest.NewVenue(event.HTX, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lin.Close() })
	o.OnMessage, o.Path = invSent.answer(event.HTX), ingesttest.InversePath(event.HTX)
	if inv, err = ingesttest.NewVenue(event.HTX, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Close() })
	return lin, inv, linSent, invSent
}

// TestHTXLoopback: both HTX streams against loopback notification hosts
// that gzip every frame and send HTX's heartbeat (ts quoted): the client
// subscribes with the wildcard and to its canary, answers every heartbeat
// (none missed: no kick), inflates and decodes the recorded pushes of each
// endpoint, counts the funding_rate canary and logs nothing as a decode
// error.
func TestHTXLoopback(t *testing.T) {
	t.Parallel() // it waits on the clock, not the CPU
	lin, inv, linSent, invSent := htxLoopbacks(t, ingesttest.LoopbackOptions{
		HeartbeatEvery: 20 * time.Millisecond, CanaryEvery: 50 * time.Millisecond})
	cfg := VenueConfig{StreamURL: lin.URL(ingesttest.VenuePath(event.HTX)), InverseStreamURL: inv.URL(ingesttest.InversePath(event.HTX))}
	inst := offlineInstruments(t, event.HTX)
	specs, err := VenueSpecs(event.HTX, cfg, inst)
	if err != nil || len(specs) != 2 {
		t.Fatalf("%d specs, %v", len(specs), err)
	}
	bl, bi := runBare(t, specs[0], StreamOptions{}), runBare(t, specs[1], StreamOptions{})
	waitFor(t, 5*time.Second, "both live", func() bool { return bl.st.Live() == 1 && bi.st.Live() == 1 })
	lines := readLines(t, "frames/htx.jsonl")
	for _, l := range lines[5:] { // O3-USDT, BTC-USD, ETH-USDT
		if bytes.Contains(l, []byte("USDT")) {
			lin.Broadcast(l)
		} else {
			inv.Broadcast(l)
		}
	}
	inv.Broadcast(lines[3]) // ETH-USD
	lin.Broadcast([]byte("not json"))
	gotL := collectEvents(t, bl.st, 2, 5*time.Second)
	gotI := collectEvents(t, bi.st, 2, 5*time.Second)
	for _, e := range gotL {
		if e.Venue != event.HTX || e.Market != event.Linear || e.Basis != event.BasisLinear || !e.NotionalKnown() {
			t.Errorf("linear: %+v", e)
		}
	}
	if gotL[1].Symbol.String() != "ETH-USDT" || gotL[1].Side != event.Short || gotL[1].Notional != 12231.3 || gotL[1].Qty != 5 {
		t.Errorf("ETH-USDT: %+v", gotL[1])
	}
	if gotI[0].Symbol.String() != "BTC-USD" || gotI[0].Notional != 17300 || gotI[1].Symbol.String() != "ETH-USD" || gotI[1].Notional != 2310 ||
		gotI[1].Basis != event.BasisContractSize || gotI[1].Market != event.Inverse {
		t.Errorf("coin-margined: %+v", gotI)
	}
	time.Sleep(300 * time.Millisecond) // fifteen heartbeats
	if lin.HeartbeatsAnswered() < 5 || inv.HeartbeatsAnswered() < 5 || lin.HeartbeatKicks()+inv.HeartbeatKicks() != 0 {
		t.Errorf("heartbeats answered %d, %d; kicked %d, %d", lin.HeartbeatsAnswered(), inv.HeartbeatsAnswered(), lin.HeartbeatKicks(), inv.HeartbeatKicks())
	}
	if !linSent.has(`"topic":"public.*.liquidation_orders"`) || !linSent.has(`"topic":"public.BTC-USDT.funding_rate"`) ||
		!invSent.has(`"topic":"public.*.liquidation_orders"`) || !invSent.has(`"topic":"public.BTC-USD.funding_rate"`) {
		t.Errorf("subscriptions: linear %v, inverse %v", linSent.msgs, invSent.msgs)
	}
	if n := bl.counter(`liqbox_ingest_canary_frames_total` + lbl(specs[0], -1, "")); n == 0 {
		t.Error("no canary frame counted")
	}
	if n := bl.counter(`liqbox_ingest_decode_errors_total` + lbl(specs[0], -1, "")); n != 1 {
		t.Errorf("%d decode errors on the linear stream, want 1 (the garbage)", n)
	}
	if n := bi.counter(`liqbox_ingest_decode_errors_total` + lbl(specs[1], -1, "")); n != 0 {
		t.Errorf("%d decode errors on the inverse stream: acks, pings or canaries were not recognised", n)
	}
	if lin.Accepted() != 1 || inv.Accepted() != 1 {
		t.Errorf("connections %d, %d: want one each, never replaced", lin.Accepted(), inv.Accepted())
	}
}

// TestHTXUnansweredHeartbeatIsCut: without the answer to HTX's heartbeat
// the loopback, like HTX, sends {"op":"close"} after five misses and
// disconnects; the client reconnects and logs the notice. This is what
// the heartbeat answer prevents (TestHTXLoopback: no kick).
func TestHTXUnansweredHeartbeatIsCut(t *testing.T) {
	t.Parallel() // it waits on the clock, not the CPU
	lin, _, _, _ := htxLoopbacks(t, ingesttest.LoopbackOptions{HeartbeatEvery: 20 * time.Millisecond, CanaryEvery: 50 * time.Millisecond})
	spec := HTXSpec(VenueConfig{StreamURL: lin.URL(ingesttest.VenuePath(event.HTX))}, nil, event.Linear)
	spec.Respond = nil
	b := runBare(t, spec, StreamOptions{MinDialInterval: 10 * time.Millisecond})
	waitFor(t, 5*time.Second, "cut off and reconnected", func() bool { return lin.HeartbeatKicks() >= 1 && lin.Accepted() >= 2 })
	if n := b.counter(`liqbox_ingest_venue_errors_total` + lbl(spec, -1, "")); n == 0 {
		t.Error(`{"op":"close"} not reported as a venue notice`)
	}
}

// TestHTXSilenceAndDrops: a host that goes silent (no heartbeat, no
// canary) is given up after the stale limit; a silent canary while the
// heartbeat goes on is caught at the canary limit; a drop is reconnected.
// Each is a gap with its cause.
func TestHTXSilenceAndDrops(t *testing.T) {
	t.Parallel() // it waits on the clock, not the CPU
	lin, _, _, _ := htxLoopbacks(t, ingesttest.LoopbackOptions{HeartbeatEvery: 20 * time.Millisecond, CanaryEvery: 50 * time.Millisecond})
	spec := HTXSpec(VenueConfig{StreamURL: lin.URL(ingesttest.VenuePath(event.HTX)),
		StaleAfter: 300 * time.Millisecond, CanaryAfter: 400 * time.Millisecond}, nil, event.Linear)
	b := runBare(t, spec, StreamOptions{MinDialInterval: 10 * time.Millisecond})
	live := func() bool { return b.st.Live() == 1 }
	waitFor(t, 5*time.Second, "live", live)

	lin.Silence(true)
	waitFor(t, 3*time.Second, "silence caught", func() bool { return b.st.Live() == 0 })
	lin.Silence(false)
	waitFor(t, 5*time.Second, "live after the silence", live)

	lin.SilenceCanary(true)
	waitFor(t, 3*time.Second, "silent canary caught", func() bool { return b.st.Live() == 0 })
	lin.SilenceCanary(false)
	waitFor(t, 5*time.Second, "live after the canary's silence", live)

	lin.DropAll()
	waitFor(t, 5*time.Second, "three gaps", func() bool { return len(b.gaps.list()) >= 3 })
	gaps := b.gaps.list()
	if gaps[0].Cause != CauseStale || gaps[1].Cause != CauseStale || gaps[2].Cause != "read_error" {
		t.Errorf("gaps %+v: want stale, stale, read_error", gaps)
	}
	if n := b.counter(`liqbox_ingest_reconnects_total` + lbl(spec, 0, `,cause="stale"`)); n != 2 {
		t.Errorf("%d stale reconnects, want 2", n)
	}
}

// TestHTXRefusedSubscription: an err-code other than 0 and 2014 on a sub
// ack is reported as a venue error.
func TestHTXRefusedSubscription(t *testing.T) {
	t.Parallel()
	l, err := ingesttest.NewVenue(event.HTX, ingesttest.LoopbackOptions{HeartbeatEvery: 20 * time.Millisecond,
		OnMessage: func(m []byte) [][]byte {
			if bytes.Contains(m, []byte(`"op":"sub"`)) {
				return [][]byte{[]byte(`{"op":"sub","cid":"liqbox","topic":"public.*.liquidation_orders","ts":1,"err-code":2030,"err-msg":"Exceeds connection limit of single user."}`)}
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := HTXSpec(VenueConfig{StreamURL: l.URL(ingesttest.VenuePath(event.HTX)), Canary: CanaryNone}, nil, event.Linear)
	b := runBare(t, spec, StreamOptions{})
	waitFor(t, 5*time.Second, "refusal reported", func() bool {
		return b.counter(`liqbox_ingest_venue_errors_total`+lbl(spec, -1, "")) >= 1
	})
}

// TestGateLoopback: both Gate streams against loopback endpoints: the
// client asks for decimal sizes in the handshake, subscribes to every
// contract and to its canary, decodes an object result and a batch
// (array) with the embedded BTC_USDT multiplier, and counts the tickers
// canary; a silent canary is caught and the connection replaced.
func TestGateLoopback(t *testing.T) {
	t.Parallel() // it waits on the clock, not the CPU
	usdtSent, btcSent := &sent{}, &sent{}
	usdt, err := ingesttest.NewVenue(event.Gate, ingesttest.LoopbackOptions{CanaryEvery: 50 * time.Millisecond, OnMessage: usdtSent.answer(event.Gate)})
	if err != nil {
		t.Fatal(err)
	}
	defer usdt.Close()
	btc, err := ingesttest.NewVenue(event.Gate, ingesttest.LoopbackOptions{CanaryEvery: 50 * time.Millisecond, OnMessage: btcSent.answer(event.Gate),
		Path: ingesttest.InversePath(event.Gate)})
	if err != nil {
		t.Fatal(err)
	}
	defer btc.Close()
	cfg := VenueConfig{StreamURL: usdt.URL(ingesttest.VenuePath(event.Gate)), InverseStreamURL: btc.URL(ingesttest.InversePath(event.Gate)),
		CanaryAfter: 500 * time.Millisecond}
	specs, err := VenueSpecs(event.Gate, cfg, offlineInstruments(t, event.Gate))
	if err != nil || len(specs) != 2 {
		t.Fatalf("%d specs, %v", len(specs), err)
	}
	bu, bb := runBare(t, specs[0], StreamOptions{}), runBare(t, specs[1], StreamOptions{})
	waitFor(t, 5*time.Second, "both live", func() bool { return bu.st.Live() == 1 && bb.st.Live() == 1 })
	now := time.Now().UnixMilli()
	usdt.Broadcast(ingesttest.AppendGate(nil, &ingesttest.Liquidation{Symbol: "BTC_USDT", Side: event.Long, Price: "65000.5", Qty: "12.5", TimeMs: now}))
	usdt.Broadcast(ingesttest.AppendGateBatch(nil, []ingesttest.Liquidation{
		{Symbol: "BTC_USDT", Side: event.Short, Price: "65001", Qty: "3", TimeMs: now + 1},
		{Symbol: "HEI_USDT", Side: event.Long, Price: "0.13827", Qty: "23", TimeMs: now + 2}}))
	btc.Broadcast(ingesttest.AppendGate(nil, &ingesttest.Liquidation{Symbol: "BTC_USD", Side: event.Short, Price: "65000", Qty: "100", TimeMs: now}))
	got := collectEvents(t, bu.st, 3, 5*time.Second)
	if got[0].Side != event.Long || !floatEq(got[0].Qty, 12.5*0.0001) || !floatEq(got[0].Notional, 12.5*0.0001*65000.5) ||
		got[1].Side != event.Short || got[2].Symbol.String() != "HEI_USDT" || got[2].NotionalKnown() {
		t.Errorf("usdt-settled: %+v", got)
	}
	inv := collectEvents(t, bb.st, 1, 5*time.Second)
	if inv[0].Symbol.String() != "BTC_USD" || inv[0].Market != event.Inverse || inv[0].NotionalKnown() {
		t.Errorf("btc-settled, no metadata offline: %+v", inv[0])
	}
	if usdt.LastHeader().Get("X-Gate-Size-Decimal") != "1" {
		t.Errorf("handshake headers %v", usdt.LastHeader())
	}
	if !usdtSent.has(`"channel":"futures.public_liquidates","event":"subscribe","payload":["!all"]`) ||
		!usdtSent.has(`"channel":"futures.tickers","event":"subscribe","payload":["BTC_USDT"]`) ||
		!btcSent.has(`"payload":["BTC_USD"]`) {
		t.Errorf("subscriptions: %v / %v", usdtSent.msgs, btcSent.msgs)
	}
	if n := bu.counter(`liqbox_ingest_canary_frames_total` + lbl(specs[0], -1, "")); n == 0 {
		t.Error("no canary frame counted")
	}
	for i, b := range []*bare{bu, bb} {
		if n := b.counter(`liqbox_ingest_decode_errors_total` + lbl(specs[i], -1, "")); n != 0 {
			t.Errorf("%s: %d decode errors: an ack or the canary was not recognised", specs[i].Stream, n)
		}
	}
	usdt.SilenceCanary(true)
	waitFor(t, 3*time.Second, "silent canary caught", func() bool { return bu.st.Live() == 0 })
	usdt.SilenceCanary(false)
	waitFor(t, 5*time.Second, "live again", func() bool { return bu.st.Live() == 1 })
	if usdt.Accepted() < 2 {
		t.Errorf("%d connections: the silent one was not replaced", usdt.Accepted())
	}
	// Garbage is a counted decode error on a connection that stays; a
	// drop is a gap and a reconnect.
	accepted := usdt.Accepted()
	usdt.Broadcast([]byte(`{"time":1,"channel":"futures.public_liquidates","event":"update","result":[{"contract":"BTC_USDT"`))
	waitFor(t, 3*time.Second, "garbage counted", func() bool {
		return bu.counter(`liqbox_ingest_decode_errors_total`+lbl(specs[0], -1, "")) == 1
	})
	usdt.DropAll()
	waitFor(t, 5*time.Second, "reconnected after the drop", func() bool {
		return usdt.Accepted() > accepted && bu.st.Live() == 1 && len(bu.gaps.list()) >= 2
	})
	if gaps := bu.gaps.list(); len(gaps) != 2 || gaps[0].Cause != CauseStale || gaps[1].Cause != "read_error" {
		t.Errorf("gaps %+v: want the silent canary's (stale) and the drop's (read_error)", gaps)
	}
}

// TestGateSilentCanaryAtItsLimit: Gate's canary at its production limit
// (15 s) and the loopback's cadence (a ticker a second): a silent
// subscription is caught after the limit, not before, and the gap starts
// at the last ticker.
func TestGateSilentCanaryAtItsLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 18 s, the same on every architecture: the full suite runs it")
	}
	t.Parallel() // it waits on the clock, not the CPU
	l, err := ingesttest.NewVenue(event.Gate, ingesttest.LoopbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := GateSpec(VenueConfig{StreamURL: l.URL(ingesttest.VenuePath(event.Gate))}, nil, event.Linear)
	b := runBare(t, spec, StreamOptions{})
	waitFor(t, 5*time.Second, "live", func() bool { return b.st.Live() == 1 })
	time.Sleep(2500 * time.Millisecond) // tickers under way
	silenced := time.Now()
	l.SilenceCanary(true)
	waitFor(t, 25*time.Second, "silent canary caught", func() bool { return b.st.Live() == 0 })
	detected := time.Since(silenced)
	t.Logf("gate: silent subscription caught after %v (limit %v)", detected.Round(10*time.Millisecond), gateCanaryAfter)
	if detected < gateCanaryAfter-1200*time.Millisecond || detected > gateCanaryAfter+2*time.Second {
		t.Errorf("caught after %v, want within a ticker and a check of the %v limit", detected, gateCanaryAfter)
	}
	if g, ok := b.st.CurrentGap(); !ok || g.Cause != CauseStale || g.Start.After(silenced.Add(100*time.Millisecond)) {
		t.Errorf("open gap %+v %v: want cause stale from the last ticker", g, ok)
	}
}
