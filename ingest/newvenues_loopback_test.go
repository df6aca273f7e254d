package ingest

import (
	"strconv"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// newVenueCase is one of the venues added after the first five, run
// against its own loopback exchange with production keepalive and canary
// settings except for the limits a test cannot wait out.
type newVenueCase struct {
	v    event.Venue
	path string // with the query the venue's URL carries
	sym  string
	usd  func(qty, price float64) float64
	spec func(t *testing.T, o VenueConfig) Spec
}

var newVenueCases = []newVenueCase{
	{event.Deribit, "/ws/api/v2", "BTC-PERPETUAL", func(q, _ float64) float64 { return q },
		func(t *testing.T, o VenueConfig) Spec { return DeribitSpec(o, nil) }},
	{event.KrakenFutures, "/ws/v1", "PF_XBTUSD", func(q, p float64) float64 { return q * p },
		func(t *testing.T, o VenueConfig) Spec {
			inst := testInstruments(t, event.KrakenFutures, map[string]Instrument{
				"PF_XBTUSD": {Market: event.Linear, Basis: event.BasisLinear, Size: 1, Trading: true},
				"PI_XBTUSD": {Market: event.Inverse, Basis: event.BasisInverse, Size: 1, Trading: true},
			})
			return KrakenFuturesSpec(o, inst)
		}},
	{event.Bitfinex, "/ws/2", "BTCF0:USTF0", func(q, p float64) float64 { return q * p },
		func(t *testing.T, o VenueConfig) Spec { return BitfinexSpec(o) }},
	{event.Bitget, "/v3/ws/public", "BTCUSDT", func(q, _ float64) float64 { return q },
		func(t *testing.T, o VenueConfig) Spec { return BitgetSpec(o) }},
	{event.Aster, "/stream?streams=!forceOrder@arr", "BTCUSDT", func(q, p float64) float64 { return q * p },
		func(t *testing.T, o VenueConfig) Spec { return AsterSpec(o) }},
}

// TestNewVenuesAgainstLoopback runs each new venue's real Spec through the
// real client against a loopback exchange speaking that venue's protocol
// (its path, acks, keepalive answers, canary), which then misbehaves: a
// liquidation arrives as the venue writes it; garbage is counted as decode
// errors without a reconnect; an abrupt close is a reconnect and one gap;
// a half-open connection (nothing at all, pings unanswered) is declared
// stale and replaced.
func TestNewVenuesAgainstLoopback(t *testing.T) {
	t.Parallel() // clock-bound, like the other resilience tests
	for _, c := range newVenueCases {
		t.Run(c.v.String(), func(t *testing.T) {
			t.Parallel()
			l, err := ingesttest.NewVenue(c.v, ingesttest.LoopbackOptions{CanaryEvery: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			spec := c.spec(t, VenueConfig{StreamURL: l.URL(c.path), StaleAfter: 600 * time.Millisecond})
			spec.PingEvery = 0 // the one keepalive after subscribing, so Silence leaves the socket quiet
			h := startHarness(t, spec, StreamOptions{})
			waitFor(t, 3*time.Second, "live", func() bool { return h.st.Live() == 1 })

			now := time.Now().UnixMilli()
			liq := ingesttest.Liquidation{Symbol: c.sym, Side: event.Short, Price: "65000.5", Qty: "1500", TimeMs: now, OrderID: 77}
			l.Broadcast(ingesttest.AppendFrame(nil, c.v, &liq))
			waitFor(t, 3*time.Second, "the liquidation", func() bool { return h.count() == 1 })
			evs, _ := h.snapshot()
			e := evs[0]
			if e.Venue != c.v || e.Symbol.String() != c.sym || e.Side != event.Short || e.Price != 65000.5 ||
				e.TimeMs != now || !floatEq(e.Notional, c.usd(1500, 65000.5)) || e.Flags != 0 {
				t.Errorf("event %+v, want %s %s short @65000.5 $%v at %d", e, c.v, c.sym, c.usd(1500, 65000.5), now)
			}

			decodeErrs := h.set.GetOrCreateCounter(`liqbox_ingest_decode_errors_total` + lbl(spec, -1, ""))
			l.Broadcast([]byte(`{"garbage":`))
			l.Broadcast([]byte(`[1,2,`))
			waitFor(t, 2*time.Second, "decode errors", func() bool { return decodeErrs.Get() == 2 })
			if l.Accepted() != 1 {
				t.Errorf("%d connections after garbage, want the first one kept", l.Accepted())
			}

			l.DropAll()
			waitFor(t, 3*time.Second, "reconnect", func() bool { return l.Accepted() == 2 && h.st.Live() == 1 })
			waitFor(t, 2*time.Second, "the drop's gap", func() bool { return len(h.gaps.list()) == 1 })
			if g := h.gaps.list()[0]; g.Cause != "read_error" || g.End.Sub(g.Start) > time.Second {
				t.Errorf("gap %+v, want one read_error gap under a second", g)
			}

			l.Silence(true)
			waitFor(t, 3*time.Second, "stale", func() bool {
				return h.set.GetOrCreateCounter(`liqbox_ingest_reconnects_total`+lbl(spec, 0, `,cause="stale"`)).Get() >= 1
			})
			l.Silence(false)
			waitFor(t, 3*time.Second, "live again", func() bool { return h.st.Live() == 1 && l.Accepted() >= 3 })
			l.Broadcast(ingesttest.AppendFrame(nil, c.v, &ingesttest.Liquidation{Symbol: c.sym, Side: event.Long,
				Price: "64000", Qty: strconv.Itoa(7), TimeMs: time.Now().UnixMilli(), OrderID: 78}))
			waitFor(t, 3*time.Second, "a liquidation after the stale reconnect", func() bool { return h.count() == 2 })
		})
	}
}

// TestNewVenueCanaries: Deribit's price index and Kraken's heartbeat feed
// reach the loopback by message, prove the connection, and their silence
// (pings still answered) is caught and replaced; with short limits here,
// the production ones being 10 s and 30 s (Aster's 5 s runs at its real
// limit in TestSilentSubscriptionCaught).
func TestNewVenueCanaries(t *testing.T) {
	t.Parallel()
	for _, c := range newVenueCases[:2] {
		t.Run(c.v.String(), func(t *testing.T) {
			t.Parallel()
			l, err := ingesttest.NewVenue(c.v, ingesttest.LoopbackOptions{CanaryEvery: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			spec := c.spec(t, VenueConfig{StreamURL: l.URL(c.path), CanaryAfter: 500 * time.Millisecond})
			b := runBare(t, spec, StreamOptions{})
			waitFor(t, 3*time.Second, "live", func() bool { return b.st.Live() == 1 })
			silenced := time.Now()
			l.SilenceCanary(true)
			waitFor(t, 3*time.Second, "caught", func() bool { return b.st.Live() == 0 })
			if d := time.Since(silenced); d < 400*time.Millisecond {
				t.Errorf("caught after %v, before the 500ms limit", d)
			}
			if g, ok := b.st.CurrentGap(); !ok || g.Cause != CauseStale {
				t.Errorf("open gap %+v %v, want cause stale", g, ok)
			}
			if got := b.counter(`liqbox_ingest_canary_frames_total` + lbl(spec, -1, "")); got == 0 {
				t.Error("no canary frame counted")
			}
			l.SilenceCanary(false)
			waitFor(t, 3*time.Second, "live again", func() bool { return b.st.Live() == 1 })
		})
	}
}
