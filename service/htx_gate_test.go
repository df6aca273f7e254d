package service_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/service"
)

// TestHTXAndGateThroughTheService: the whole service with HTX and Gate
// enabled as configured (both endpoints of each, instrument REST down so
// the embedded snapshots serve) against loopback hosts in each venue's own
// frame format: HTX's gzip frames and heartbeat, Gate's tickers. Four
// streams go live, and every liquidation sent reaches the log with its
// venue's side, market and USD.
func TestHTXAndGateThroughTheService(t *testing.T) {
	t.Parallel() // it waits on the clock, not the CPU
	open := func(v event.Venue, path string) *ingesttest.Loopback {
		l, err := ingesttest.NewVenue(v, ingesttest.LoopbackOptions{Path: path, CanaryEvery: 100 * time.Millisecond, HeartbeatEvery: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	htxLin, htxInv := open(event.HTX, ingesttest.VenuePath(event.HTX)), open(event.HTX, ingesttest.InversePath(event.HTX))
	gateU, gateB := open(event.Gate, ingesttest.VenuePath(event.Gate)), open(event.Gate, ingesttest.InversePath(event.Gate))
	b := startBox(t, func(c *service.Config, _ *service.Options) {
		for v, vs := range c.Venues {
			vs.Enabled = v == event.HTX || v == event.Gate
		}
		set := func(k, v string) {
			if err := c.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		set("venue.htx.stream_url", htxLin.URL(ingesttest.VenuePath(event.HTX)))
		set("venue.htx.inverse_stream_url", htxInv.URL(ingesttest.InversePath(event.HTX)))
		set("venue.htx.rest_url", "http://127.0.0.1:1")
		set("venue.gate.stream_url", gateU.URL(ingesttest.VenuePath(event.Gate)))
		set("venue.gate.inverse_stream_url", gateB.URL(ingesttest.InversePath(event.Gate)))
		set("venue.gate.rest_url", "http://127.0.0.1:1")
	})
	streams := b.Service.Streams()
	if len(streams) != 4 {
		t.Fatalf("%d streams, want HTX's two and Gate's two", len(streams))
	}
	waitUntil(t, 5*time.Second, "four streams live", func() bool {
		for _, s := range streams {
			if s.Live() != 1 {
				return false
			}
		}
		return true
	})
	now := time.Now().UnixMilli()
	htxLin.Broadcast(ingesttest.AppendHTX(nil, &ingesttest.Liquidation{Symbol: "ETH-USDT", Side: event.Short, Price: "2446.26", Qty: "500",
		Base: "5", Quote: "12231.3", TimeMs: now}))
	htxInv.Broadcast(ingesttest.AppendHTX(nil, &ingesttest.Liquidation{Symbol: "BTC-USD", Side: event.Long, Price: "65000.5", Qty: "173", TimeMs: now}))
	gateU.Broadcast(ingesttest.AppendGate(nil, &ingesttest.Liquidation{Symbol: "BTC_USDT", Side: event.Long, Price: "65000.5", Qty: "1245", TimeMs: now}))
	b.waitSeq(3, 5*time.Second)
	want := map[string]struct {
		side   event.Side
		market event.Market
		usd    float64
	}{
		"ETH-USDT": {event.Short, event.Linear, 12231.3},
		"BTC-USD":  {event.Long, event.Inverse, 17300},
		"BTC_USDT": {event.Long, event.Linear, 1245 * 0.0001 * 65000.5},
	}
	var logged []event.Event
	waitUntil(t, 3*time.Second, "three events in the log", func() bool {
		logged = logged[:0]
		err := b.Service.Store().Scan(time.Time{}, time.Time{}, func(e *event.Event) error {
			logged = append(logged, *e)
			return nil
		})
		return err == nil && len(logged) >= 3
	})
	for _, e := range logged {
		w, ok := want[e.Symbol.String()]
		if len(logged) != 3 || !ok || e.Side != w.side || e.Market != w.market || math.Abs(e.Notional-w.usd) > 1e-9*w.usd {
			t.Errorf("logged %s %s %s %s $%v (%d in all); want %+v", e.Venue, e.Symbol, e.Side, e.Market, e.Notional, len(logged), w)
		}
	}
	// The two above the chat's $10k reach the Bot API as alerts, each
	// naming its venue and the side of the position.
	alerts := b.waitAlerts(2, 5*time.Second)
	var htxShort, htxLong bool
	for _, a := range alerts {
		htxShort = htxShort || strings.HasPrefix(a, "🟢 <b>SHORT liquidated</b> · htx\n<b>ETH-USDT</b> <b>$12.23K</b>")
		htxLong = htxLong || strings.HasPrefix(a, "🔴 <b>LONG liquidated</b> · htx\n<b>BTC-USD</b> <b>$17.3K</b>")
	}
	if !htxShort || !htxLong {
		t.Errorf("alerts %q: want HTX's short ETH-USDT $12.23K and long BTC-USD $17.3K", alerts)
	}
	waitUntil(t, 3*time.Second, "HTX heartbeats answered", func() bool { return htxLin.HeartbeatsAnswered() >= 3 && htxInv.HeartbeatsAnswered() >= 3 })
	if htxLin.HeartbeatKicks()+htxInv.HeartbeatKicks() != 0 {
		t.Errorf("HTX heartbeats: %d answered, %d kicks", htxLin.HeartbeatsAnswered(), htxLin.HeartbeatKicks()+htxInv.HeartbeatKicks())
	}
}
