package service_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

func TestStatusPageAndJSONAPI(t *testing.T) {
	b := startBox(t, nil)
	// SELL closes a long: a long was liquidated.
	b.play(t, liq("BTCUSDT", "SELL", "2", "50000"), liq("ETHUSDT", "BUY", "100", "3000"))

	t.Run("page", func(t *testing.T) {
		resp, body := b.get(t, "/")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("CSP %q does not lock the page to itself", csp)
		}
		if !bytes.Equal(body, embed.StatusPage) {
			t.Error("GET / is not the embedded status page")
		}
		// The page shows each venue's coverage and the chart's, from
		// /api/status (the JSON test below pins the words).
		for _, want := range []string{"/api/status", "/api/recent", "<canvas", "v.coverage_note", "m.coverage_note", `id="coverage"`, `id="chartcov"`} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("page lacks %q", want)
			}
		}
		// Exchange and LLM text reaches the page only through textContent.
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "http://", "https://"} {
			if bytes.Contains(body, []byte(bad)) {
				t.Errorf("page uses %q", bad)
			}
		}
		if resp, _ := b.get(t, "/nope"); resp.StatusCode != 404 {
			t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
		}
	})

	t.Run("recent", func(t *testing.T) {
		_, body := b.get(t, "/api/recent?n=10")
		var rows []service.RecentJSON
		if err := json.Unmarshal(body, &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 {
			t.Fatalf("got %d rows, want 2: %s", len(rows), body)
		}
		eth, btc := rows[0], rows[1]
		if eth.Symbol != "ETHUSDT" || eth.Side != "short" || eth.NotionalUSD == nil || *eth.NotionalUSD != 300000 {
			t.Errorf("newest row = %+v, want the ETHUSDT short of $300k", eth)
		}
		if btc.Symbol != "BTCUSDT" || btc.Side != "long" || btc.Seq >= eth.Seq || btc.Venue != "binance-usdm" {
			t.Errorf("older row = %+v", btc)
		}
		_, body = b.get(t, "/api/recent?min_usd=200000")
		rows = nil
		json.Unmarshal(body, &rows)
		if len(rows) != 1 || rows[0].Symbol != "ETHUSDT" {
			t.Errorf("min_usd=200000 gave %s", body)
		}
	})

	t.Run("status", func(t *testing.T) {
		resp, body := b.get(t, "/api/status")
		if resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", resp.Header.Get("Content-Type"))
		}
		var st service.StatusJSON
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		if !st.Healthy || len(st.Venues) != 1 || st.Venues[0].State != "live" || st.Venues[0].Live != 1 {
			t.Errorf("venues %+v healthy %v, want one live venue", st.Venues, st.Healthy)
		}
		if st.LastSeq != 2 || len(st.Connections) != 1 || !st.Connections[0].Connected || st.Connections[0].Frames < 2 {
			t.Errorf("last_seq %d, connections %+v", st.LastSeq, st.Connections)
		}
		var long, short float64
		for i := range st.USDPerMinute.Long {
			long += st.USDPerMinute.Long[i]
			short += st.USDPerMinute.Short[i]
		}
		if long != 100000 || short != 300000 || len(st.USDPerMinute.Long) != 60 {
			t.Errorf("usd per minute: long %v short %v over %d minutes", long, short, len(st.USDPerMinute.Long))
		}
		// Binance USD-M is sampled: its figures, and the chart's sum, are
		// lower bounds, and the JSON says so in words.
		if v := st.Venues[0]; v.Coverage != "sampled" || v.CoverageNote != "lower bound: Binance sends at most 1 liquidation per symbol per second" {
			t.Errorf("venue coverage %q %q", v.Coverage, v.CoverageNote)
		}
		if m := st.USDPerMinute; m.Coverage != "sampled" || m.CoverageNote != "totals are a lower bound: binance-usdm sends only some liquidations" {
			t.Errorf("usd per minute coverage %q %q", m.Coverage, m.CoverageNote)
		}
		stages := map[string]service.StageJSON{}
		for _, s := range st.Stages {
			stages[s.Name] = s
		}
		e := stages["exchange_to_receive"]
		if e.Count != 2 || e.P50 == nil || e.P99 == nil || *e.P50 > *e.P99 {
			t.Errorf("exchange_to_receive %+v", e)
		}
		if r := stages["receive_to_pipeline"]; r.Count < 2 || r.P99 == nil || *r.P99 > 1 {
			t.Errorf("receive_to_pipeline %+v", r)
		}
		if st.ClockOffsetS == nil || st.ClockWarn {
			t.Errorf("clock offset %v warn %v on one box", st.ClockOffsetS, st.ClockWarn)
		}
	})

	t.Run("one model", func(t *testing.T) {
		// Telegram's /status and /api/status render the same State.
		tg, js := b.Service.Status(), b.Service.StatusJSON(time.Now())
		if len(tg.Venues) != 1 || len(js.Venues) != 1 || tg.Venues[0].Venue != js.Venues[0].Venue ||
			tg.Venues[0].Configured != js.Venues[0].Configured || tg.Venues[0].Connections != js.Venues[0].Live {
			t.Errorf("venues: /status %+v, /api/status %+v", tg.Venues, js.Venues)
		}
		if tg.Venues[0].Coverage == nil || tg.Venues[0].Coverage.Text("en") != js.Venues[0].CoverageNote {
			t.Errorf("coverage: /status %v, /api/status %q", tg.Venues[0].Coverage, js.Venues[0].CoverageNote)
		}
		if tg.RingCap != js.RingCapacity || tg.RingDrops != js.RingDrops || tg.Enrichment != js.Enrichment ||
			tg.DiskLimit != js.DiskLimit || tg.Version != js.Version || !tg.ClockKnown || js.ClockOffsetS == nil {
			t.Errorf("/status %+v vs /api/status %+v", tg, js)
		}
	})

	t.Run("clock warning", func(t *testing.T) {
		b.Config.HTTP.ClockWarn = time.Nanosecond
		defer func() { b.Config.HTTP.ClockWarn = 250 * time.Millisecond }()
		st := b.Service.StatusJSON(time.Now())
		if !st.ClockWarn || len(st.Warnings) == 0 || !strings.Contains(st.Warnings[0], "clock offset") {
			t.Errorf("clock_warn %v warnings %q, want a clock warning", st.ClockWarn, st.Warnings)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, body := b.get(t, "/metrics")
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Errorf("content type %q", resp.Header.Get("Content-Type"))
		}
		text := string(body)
		for _, want := range []string{
			"# TYPE liqbox_stage_exchange_to_receive_seconds histogram\n",
			`liqbox_stage_exchange_to_receive_seconds_bucket{le="0.001"}`,
			`liqbox_stage_exchange_to_receive_seconds_bucket{le="+Inf"} 2`,
			`liqbox_ingest_events_total{venue="binance-usdm",stream="!forceOrder@arr",side="long"} 1`,
			"liqbox_pipeline_duplicates_total ",
			"liqbox_store_commit_seconds_bucket",
			"liqbox_clock_offset_estimate_seconds ",
			"# TYPE go_goroutines gauge\n",
			"process_resident_memory_bytes ",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		for _, line := range strings.Split(text, "\n") {
			if name, ok := strings.CutPrefix(line, "# HELP "); ok && !strings.Contains(name, " ") {
				t.Errorf("metric %s has no help text: declare it with its help (metricdoc)", name)
			}
		}
	})
}

func TestHealthzFollowsTheExchange(t *testing.T) {
	b := startBox(t, func(_ *service.Config, o *service.Options) { o.ReconnectGrace = 300 * time.Millisecond })
	resp, body := b.get(t, "/healthz")
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz with a live stream = %d %q", resp.StatusCode, body)
	}
	b.Exchange.Close() // the exchange goes away; reconnects are refused

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body = b.get(t, "/healthz")
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz still %d %q after the exchange stopped", resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(string(body), "unhealthy\nbinance-usdm: no live connection for ") {
		t.Errorf("503 body %q does not name the venue", body)
	}
	var st service.StatusJSON
	_, js := b.get(t, "/api/status")
	json.Unmarshal(js, &st)
	if st.Healthy || len(st.HealthProblems) != 1 || st.Venues[0].State != "down" {
		t.Errorf("status healthy=%v problems=%q venues=%+v", st.Healthy, st.HealthProblems, st.Venues)
	}
}

func TestHealthzGraceCountsFromTheLoss(t *testing.T) {
	const grace = 45 * time.Second // the default
	b := startBox(t, nil)
	svc, str := b.Service, b.Service.Streams()[0]
	now := time.Now()
	// Live now: healthy however long ago the service started.
	if p := svc.Health(now.Add(time.Hour)).Failed; len(p) != 0 && str.Live() > 0 {
		t.Errorf("live venue reported %q", p)
	}
	b.Exchange.Close()
	for str.Live() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	lost := time.Now()
	service.SetLastLive(svc, str.Spec().Venue, lost)
	if p := svc.Health(lost.Add(grace - time.Second)).Failed; len(p) != 0 {
		t.Errorf("within the grace after the loss: %q", p)
	}
	if p := svc.Health(lost.Add(grace + time.Second)).Failed; len(p) != 1 {
		t.Errorf("past the grace after the loss: %q, want one problem", p)
	}
}

// TestShadowMode runs the whole box with --shadow against a loopback Bot
// API: ingest, the log and enrichment (rule-based, no LLM key) all work,
// and Telegram hears only about the shadow chat, or nothing at all.
func TestShadowMode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shadow int64
	}{{"to the shadow chat", -1009}, {"to nobody", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBox(t, func(c *service.Config, o *service.Options) {
				c.Telegram.Enabled = true
				c.Telegram.Chats = []int64{111, 222}
				c.Telegram.ShadowChat = tc.shadow
				c.Telegram.MinUSD = 1000
				c.Enrich.Enabled = true // no key: the rule-based read
				c.Enrich.MinUSD = 1000
				c.Enrich.Window = 10 * time.Millisecond
				c.Alerts.Terminal = true // every sink on, for the dashboard check
				o.Shadow = true
				o.TGToken = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZshadowtes"
				o.LLMKey = "" // the rule-based read
			})
			b.play(t, liq("BTCUSDT", "SELL", "2", "50000"))

			// The analysis edit is the last thing the bot does for an alert.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if tc.shadow != 0 && countCalls(b.Bot.Requests(""), "editMessageText") > 0 {
					break
				}
				if tc.shadow == 0 && strings.Contains(b.logs.String(), "shadow edit") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no analysis edit; calls %+v; log:\n%s", b.Bot.Requests(""), b.logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			b.stop()

			calls := b.Bot.Requests("")
			for _, c := range calls {
				if c.Method == "getUpdates" {
					t.Errorf("a shadow bot polled for updates (it would steal the live bot's commands)")
				}
				if c.Chat != 0 && c.Chat != tc.shadow {
					t.Errorf("%s went to chat %d, want only %d", c.Method, c.Chat, tc.shadow)
				}
			}
			if tc.shadow == 0 {
				if len(calls) != 0 {
					t.Errorf("shadow to nobody called the Bot API: %+v", calls)
				}
				if !strings.Contains(b.logs.String(), "shadow alert") || !strings.Contains(b.logs.String(), "BTCUSDT") {
					t.Errorf("the alert is not in the log:\n%s", b.logs.String())
				}
			} else if msgs := b.Bot.Delivered(); countCalls(calls, "sendMessage") != 1 || !strings.Contains(msgs[0].Text, "BTCUSDT") {
				t.Errorf("shadow chat got %d alerts: %+v", countCalls(calls, "sendMessage"), msgs)
			}
			// Everything else ran: the event is in the log and enrichment
			// produced its read.
			if b.Service.Store().Durable() < 1 {
				t.Errorf("the event was not logged (durable %d)", b.Service.Store().Durable())
			}
			var m bytes.Buffer
			b.Service.Metrics().WritePrometheus(&m)
			if !strings.Contains(m.String(), `liqbox_enrich_analyses_total{source="rules"} 1`) {
				t.Errorf("enrichment did not run:\n%s", grepLines(m.String(), "liqbox_enrich_analyses_total"))
			}
			if tc.shadow != 0 {
				checkDashboardNames(t, m.String())
			}
		})
	}
}

// checkDashboardNames fails for any metric the Grafana dashboard queries
// that a box with every component on does not export.
func checkDashboardNames(t *testing.T, exposition string) {
	t.Helper()
	data, err := os.ReadFile("../build/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	re := regexp.MustCompile(`liqbox_[a-z0-9_]+`)
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range re.FindAllString(tg.Expr, -1) {
				n++
				if !strings.Contains(exposition, "\n"+name+"{") && !strings.Contains(exposition, "\n"+name+" ") {
					t.Errorf("dashboard queries %s, which /metrics does not export", name)
				}
			}
		}
	}
	if n < 20 {
		t.Errorf("dashboard has only %d metric references", n)
	}
}

func countCalls(calls []telegramtest.Request, method string) int {
	n := 0
	for _, c := range calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
