package service_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// waitUntil polls cond every 5 ms for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// apiGaps reads /api/status's gaps_24h as the JSON says them, so a null
// end is told apart from a missing or zero one.
func apiGaps(t *testing.T, b *box) []map[string]any {
	t.Helper()
	_, body := b.get(t, "/api/status")
	var st struct {
		Gaps []map[string]any `json:"gaps_24h"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st.Gaps
}

// statusCommand sends /status from the owner and returns the bot's reply.
func statusCommand(t *testing.T, tg *telegramtest.Server, owner int64) string {
	t.Helper()
	before := len(tg.Requests("sendMessage"))
	tg.Say(owner, owner, "/status")
	rs, err := tg.WaitN("sendMessage", before+1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return rs[len(rs)-1].Text
}

// TestOngoingGapVisibleEverywhere: the exchange gone for longer than the
// health grace (issue 13: "/status said 0 gaps in 24 h during a 58 s
// outage", and /api/status would have written a year-1 end and negative
// seconds). While it is gone, /api/status, the status model behind
// Telegram's /status, and the bot's /status reply itself show the ongoing
// gap with its start, its length so far and its cause, and count it; once
// the exchange is back the same gap is closed, counted once.
func TestOngoingGapVisibleEverywhere(t *testing.T) {
	const owner = 4242
	tg, err := telegramtest.NewServer(telegramtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	b := startBox(t, func(c *service.Config, o *service.Options) {
		o.ReconnectGrace = 300 * time.Millisecond
		c.Telegram.APIURL = tg.URL()
		c.Telegram.Chats = []int64{owner}
		c.Telegram.AllowUsers = []int64{owner}
		o.TGToken = telegramtest.Token
	})
	str := b.Service.Streams()[0]
	waitUntil(t, 3*time.Second, "live", func() bool { return str.Live() == 1 })
	b.Exchange.Refuse(true)
	gone := time.Now()
	b.Exchange.DropAll()
	waitUntil(t, 10*time.Second, "/healthz failing", func() bool {
		resp, _ := b.get(t, "/healthz")
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	time.Sleep(200 * time.Millisecond)

	gaps := apiGaps(t, b)
	sinceGone := time.Since(gone).Seconds()
	if len(gaps) != 1 {
		t.Fatalf("gaps_24h %v, want the one ongoing gap", gaps)
	}
	g := gaps[0]
	end, hasEnd := g["end"]
	if !hasEnd || end != nil || g["open"] != true || g["cause"] != "read_error" {
		t.Errorf("ongoing gap %v: want end null, open true, cause read_error", g)
	}
	if s, _ := g["seconds"].(float64); s < 0.3 || s > sinceGone+0.1 {
		t.Errorf("ongoing gap lasted %v s so far, want between the grace and %.2f s since the exchange went", g["seconds"], sinceGone)
	}
	if start, err := time.Parse(time.RFC3339Nano, g["start"].(string)); err != nil || start.Before(gone.Add(-time.Millisecond)) || start.After(gone.Add(time.Second)) {
		t.Errorf("ongoing gap starts %v (%v), want when the exchange went, %v", g["start"], err, gone)
	}
	js := b.Service.StatusJSON(time.Now())
	if js.Venues[0].Gaps24h != 1 || js.Healthy || js.Health != service.HealthFailed ||
		!slices.ContainsFunc(js.Warnings, func(w string) bool { return strings.Contains(w, "blind since") }) {
		t.Errorf("venues %+v health %q warnings %q: want 1 gap in 24 h, unhealthy, a blind warning", js.Venues, js.Health, js.Warnings)
	}

	rep := b.Service.Status()
	if len(rep.Blind) != 1 || rep.Blind[0].Cause != "read_error" || rep.Blind[0].For < 300*time.Millisecond ||
		rep.Venues[0].Gaps24h != 1 || rep.Venues[0].Connections != 0 {
		t.Errorf("/status report %+v: want the ongoing gap, counted", rep)
	}
	text := statusCommand(t, tg, owner)
	for _, want := range []string{"binance-usdm: 0/1 connections", "1 gaps in 24 h", "binance-usdm !forceOrder@arr blind since ", " so far (read_error)"} {
		if !strings.Contains(text, want) {
			t.Errorf("/status reply lacks %q:\n%s", want, text)
		}
	}

	b.Exchange.Refuse(false)
	waitUntil(t, 5*time.Second, "live again", func() bool { return str.Live() == 1 })
	back := time.Now()
	gaps = apiGaps(t, b)
	if len(gaps) != 1 || gaps[0]["open"] != false || gaps[0]["end"] == nil {
		t.Fatalf("gaps_24h %v after the exchange came back, want the one gap closed", gaps)
	}
	if s := gaps[0]["seconds"].(float64); s < sinceGone || s > time.Since(gone).Seconds() {
		t.Errorf("closed gap of %v s, want the outage (%.2f–%.2f s)", s, sinceGone, back.Sub(gone).Seconds())
	}
	if rep := b.Service.Status(); len(rep.Blind) != 0 || rep.Venues[0].Gaps24h != 1 {
		t.Errorf("after the outage /status has %+v blind, %d gaps; want none blind, the one gap", rep.Blind, rep.Venues[0].Gaps24h)
	}
	if n := metricSum(b, "liqbox_ingest_gaps_total"); n != 1 {
		t.Errorf("liqbox_ingest_gaps_total %v, want 1", n)
	}
}

// garbage is a frame the Binance decoder refuses: a liquidation whose
// price is no number.
var garbage = []byte(`{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1,"o":{"s":"BTCUSDT","S":"SELL","q":"1","p":"x","ap":"x","T":1}}}`)

// TestDecodeFailuresSurface: a stream whose frames stop decoding is shown
// in /api/status, the page's warnings, /status and /healthz (issue 13: with
// 10 % of frames malformed only /metrics said so). A couple of bad frames
// are a quirk; over 1 % (at least 3) the stream is degraded and /healthz
// says so with a 200; over half, the box is blind to the venue and
// /healthz fails.
func TestDecodeFailuresSurface(t *testing.T) {
	b := startBox(t, nil)
	decode := func() service.DecodeJSON {
		t.Helper()
		js := b.Service.StatusJSON(time.Now())
		if len(js.Decode) != 1 {
			t.Fatalf("decode %+v, want the one stream", js.Decode)
		}
		return js.Decode[0]
	}
	healthz := func() (int, string) {
		resp, body := b.get(t, "/healthz")
		return resp.StatusCode, string(body)
	}
	var rows []ingesttest.Liquidation
	for i := range 20 {
		rows = append(rows, liq("BTCUSDT", "SELL", strconv.Itoa(i+1), "100"))
	}
	b.play(t, rows...)
	b.Exchange.Broadcast(garbage)
	b.Exchange.Broadcast(garbage)
	waitUntil(t, 3*time.Second, "two decode errors", func() bool { return decode().Errors == 2 })
	if d := decode(); d.State != service.HealthOK {
		t.Errorf("two bad frames of %d: %+v, want ok (a quirk, not a rate)", d.Frames, d)
	}
	if code, body := healthz(); code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q, want ok", code, body)
	}

	// Past the stream's first once-a-second sample: what failed before it
	// still counts in the minute.
	time.Sleep(1100 * time.Millisecond)
	b.Exchange.Broadcast(garbage)
	waitUntil(t, 3*time.Second, "three decode errors", func() bool { return decode().Errors == 3 })
	if d := decode(); d.State != service.HealthDegraded || d.ErrorRatio < 0.1 || d.ErrorRatio > 0.2 {
		t.Errorf("3 bad frames of %d: %+v, want degraded", d.Frames, d)
	}
	code, body := healthz()
	if code != 200 || !strings.HasPrefix(body, "degraded\nbinance-usdm !forceOrder@arr: 3 of ") ||
		!strings.Contains(body, "frames failed to decode in the last minute") {
		t.Errorf("/healthz %d %q, want 200 degraded naming the stream", code, body)
	}
	js := b.Service.StatusJSON(time.Now())
	if !js.Healthy || js.Health != service.HealthDegraded ||
		!slices.ContainsFunc(js.Warnings, func(w string) bool { return strings.HasPrefix(w, "degraded: binance-usdm !forceOrder@arr: 3 of ") }) {
		t.Errorf("/api/status healthy %v health %q warnings %q, want degraded with a warning", js.Healthy, js.Health, js.Warnings)
	}
	if rep := b.Service.Status(); len(rep.Decode) != 1 || rep.Decode[0].Errors != 3 || rep.Decode[0].Venue != "binance-usdm" {
		t.Errorf("/status decode %+v, want the stream", rep.Decode)
	}

	for range 25 {
		b.Exchange.Broadcast(garbage)
	}
	waitUntil(t, 3*time.Second, "28 decode errors", func() bool { return decode().Errors == 28 })
	if d := decode(); d.State != service.HealthFailed {
		t.Errorf("28 bad frames of %d: %+v, want unhealthy", d.Frames, d)
	}
	code, body = healthz()
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "unhealthy\nbinance-usdm !forceOrder@arr: 28 of ") ||
		!strings.Contains(body, "blind to most of its frames") {
		t.Errorf("/healthz %d %q, want 503 naming the stream", code, body)
	}
	if js := b.Service.StatusJSON(time.Now()); js.Healthy || js.Health != service.HealthFailed {
		t.Errorf("/api/status healthy %v health %q, want unhealthy", js.Healthy, js.Health)
	}
}

// ledgerGaps is the service's gap ledger, closed gaps only.
func ledgerGaps(t *testing.T, st *store.Store) []store.Gap {
	t.Helper()
	gs, err := st.Gaps(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(gs, store.Gap.IsOpen)
}

// TestDropsCostLessThanASecond: a venue that accepts and then drops every
// connection after a few frames, through the whole service (issue 13:
// connections that lived 2.5 s cost 15–25 s each). Every drop is one gap in
// the ledger, closed by a reconnect within about a second, and counted
// once.
func TestDropsCostLessThanASecond(t *testing.T) {
	t.Parallel() // they wait on the clock, not the CPU
	for _, c := range []struct {
		name      string
		dropAfter int // frames per connection; the canary pushes every 100 ms
		maxGap    time.Duration
	}{
		{"lived 1.2s", 13, 600 * time.Millisecond},
		// Dials of one slot are at least a second apart.
		{"lived 0.3s", 4, 1300 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // they wait on the clock, not the CPU
			ex, err := ingesttest.NewVenue(event.BinanceUSDM, ingesttest.LoopbackOptions{DropAfter: c.dropAfter, CanaryEvery: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			b := startBox(t, func(cfg *service.Config, _ *service.Options) {
				cfg.Venues[event.BinanceUSDM].StreamURL = ex.URL("/market/stream?streams=!forceOrder@arr")
			})
			const drops = 6
			waitUntil(t, 20*time.Second, "six drops and reconnects in the ledger", func() bool {
				return len(ledgerGaps(t, b.Service.Store())) >= drops
			})
			gaps := ledgerGaps(t, b.Service.Store())
			var lens []time.Duration
			for i, g := range gaps {
				if g.Cause != "read_error" || g.Venue != "binance-usdm" {
					t.Errorf("gap %+v: want binance-usdm, read_error", g)
				}
				if i > 0 && !g.Start.After(gaps[i-1].End) {
					t.Errorf("gap %+v overlaps or touches the one before, %+v", g, gaps[i-1])
				}
				lens = append(lens, g.End.Sub(g.Start))
			}
			slices.Sort(lens)
			median, worst := lens[len(lens)/2], lens[len(lens)-1]
			t.Logf("%d drops through the service: gap per drop median %v, max %v (%v)", len(lens), median.Round(time.Millisecond), worst.Round(time.Millisecond), lens)
			if worst > c.maxGap || median > time.Second {
				t.Errorf("gaps %v: want each within %v and the median within 1 s", lens, c.maxGap)
			}
			// Each drop counted once: the counter that moves when a gap
			// ends agrees with the ledger (a gap may end between the reads).
			if n := metricSum(b, "liqbox_ingest_gaps_total"); n < float64(len(gaps)) || n > float64(len(gaps)+1) {
				t.Errorf("liqbox_ingest_gaps_total %v, the ledger %d gaps", n, len(gaps))
			}
		})
	}
}

// TestSilentCanaryThroughTheService: the connection stays open and answers
// pings but the canary stops: replaced within venue.*.canary_after (set in
// the config, so the key reaches ingest), the gap open meanwhile in
// /api/status with cause stale, then one closed gap in the ledger that
// starts at the last canary.
func TestSilentCanaryThroughTheService(t *testing.T) {
	t.Parallel() // it waits on the clock, not the CPU
	const limit = 2 * time.Second
	ex, err := ingesttest.NewVenue(event.BinanceUSDM, ingesttest.LoopbackOptions{CanaryEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	b := startBox(t, func(c *service.Config, _ *service.Options) {
		c.Venues[event.BinanceUSDM].StreamURL = ex.URL("/market/stream?streams=!forceOrder@arr")
		if err := c.Set("venue.binance-usdm.canary_after", limit.String()); err != nil {
			t.Fatal(err)
		}
	})
	str := b.Service.Streams()[0]
	if c := str.Spec().Canary; c == nil || c.After != limit {
		t.Fatalf("canary %+v, want the configured limit %v", c, limit)
	}
	waitUntil(t, 3*time.Second, "live", func() bool { return str.Live() == 1 })
	time.Sleep(300 * time.Millisecond)
	ex.SilenceCanary(true)
	silenced := time.Now()
	waitUntil(t, limit+2*time.Second, "the silent subscription caught", func() bool { return str.Live() == 0 })
	detected := time.Since(silenced)
	t.Logf("silent canary caught after %v (limit %v)", detected.Round(10*time.Millisecond), limit)
	if detected < limit-200*time.Millisecond || detected > limit+time.Second {
		t.Errorf("caught after %v, want at its limit %v", detected, limit)
	}
	waitUntil(t, 2*time.Second, "the open gap in /api/status", func() bool {
		g := apiGaps(t, b)
		return len(g) == 1 && g[0]["open"] == true && g[0]["cause"] == ingest.CauseStale
	})
	waitUntil(t, 2*time.Second, "the connection replaced", func() bool {
		return metricSum(b, `liqbox_ingest_reconnects_total`) >= 1 && ex.Accepted() >= 2
	})
	ex.SilenceCanary(false)
	waitUntil(t, 5*time.Second, "live again", func() bool { return str.Live() == 1 })
	waitUntil(t, 2*time.Second, "the gap closed in the ledger", func() bool { return len(ledgerGaps(t, b.Service.Store())) == 1 })
	g := ledgerGaps(t, b.Service.Store())[0]
	if g.Cause != ingest.CauseStale || g.Start.After(silenced.Add(100*time.Millisecond)) || g.Start.Before(silenced.Add(-300*time.Millisecond)) ||
		g.End.Sub(g.Start) < detected {
		t.Errorf("recorded %+v: want cause stale from the last canary before %v, longer than %v", g, silenced, detected)
	}
}
