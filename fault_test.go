package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pump broadcasts n alert-sized liquidations (each distinct) and returns the
// first id used next time.
func pump(r *rig, from, n int) int {
	base := time.Now().Add(time.Minute).UnixMilli()
	for i := from; i < from+n; i++ {
		r.ex.Broadcast(frame("BTCUSDT", "SELL", strconv.Itoa(i+1), "60000", "60000", base+int64(i)))
	}
	return from + n
}

// waitSeq waits until the pipeline has numbered n events: the raw path
// (ring → pipeline → sinks' queues → log) is independent of the network.
func (r *rig) waitSeq(n uint64, d time.Duration) time.Duration {
	r.t.Helper()
	t0 := time.Now()
	for r.svc.pipe.LastSeq() < n {
		if time.Since(t0) > d {
			r.t.Fatalf("pipeline at seq %d after %v, want %d", r.svc.pipe.LastSeq(), d, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(t0)
}

// TestFaultsTelegramAndLLM: Telegram answers 429 storms, 5xx, hangs,
// garbage and 403 while the LLM hangs, answers garbage and 401. The raw
// path never slows: every event is numbered and logged within moments, and
// alerts reach the Bot API on time whenever it is healthy, whatever the LLM
// does.
func TestFaultsTelegramAndLLM(t *testing.T) {
	r := startRig(t, func(c *Config) { c.Enrich.Enabled = true })
	id, seq := 0, uint64(0)
	phase := func(name string, tg, llm apiFault, wantAlertsNow bool) {
		t.Helper()
		r.bot.setFault(tg)
		r.llm.setFault(llm)
		before := len(r.bot.messages())
		id = pump(r, id, 5)
		seq += 5
		if d := r.waitSeq(seq, 2*time.Second); d > time.Second {
			t.Errorf("%s: raw path took %v for 5 events", name, d)
		}
		if wantAlertsNow {
			// Five at once fold into a cascade digest: any message counts.
			deadline := time.Now().Add(2 * time.Second)
			for len(r.bot.messages()) == before {
				if time.Now().After(deadline) {
					t.Fatalf("%s: no alert reached the Bot API within 2 s", name)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	phase("LLM hangs", faultNone, faultHang, true)
	phase("LLM garbage", faultNone, faultGarbage, true)
	phase("LLM 401", faultNone, faultAuth, true)
	phase("LLM 500", faultNone, faultServer, true)
	phase("Telegram 429 storm", faultRateLimit, faultNone, false)
	phase("Telegram 500", faultServer, faultNone, false)
	phase("Telegram hangs", faultHang, faultNone, false)
	phase("Telegram garbage", faultGarbage, faultNone, false)
	// Healthy again: what waited is delivered (as alerts or a digest).
	r.bot.setFault(faultNone)
	r.llm.setFault(faultNone)
	before := len(r.bot.messages())
	deadline := time.Now().Add(5 * time.Second)
	for len(r.bot.messages()) == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(r.bot.messages()) == before {
		t.Error("nothing delivered after Telegram recovered")
	}
	if n := metricSum(r.svc.set, "liqbox_telegram_errors_total"); n == 0 {
		t.Error("Telegram errors were not counted")
	}
	if n := metricSum(r.svc.set, "liqbox_enrich_failures_total"); n == 0 {
		t.Error("LLM failures were not counted")
	}
	// 403: the chat blocked the bot; it is unsubscribed, the box goes on.
	r.bot.setFault(faultForbidden)
	id = pump(r, id, 3)
	seq += 3
	r.waitSeq(seq, 2*time.Second)
	deadline = time.Now().Add(5 * time.Second)
	for metricSum(r.svc.set, "liqbox_telegram_unsubscribed_total") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if metricSum(r.svc.set, "liqbox_telegram_unsubscribed_total") == 0 {
		t.Error("403 did not unsubscribe the chat")
	}
	r.stop()
	if d := metricSum(r.svc.set, "liqbox_store_dropped_total") + metricSum(r.svc.set, "liqbox_ring_dropped_total"); d != 0 {
		t.Errorf("%v events dropped on the raw path", d)
	}
	if n, err := r.svc.store.Count(); err == nil && n != int(seq) {
		t.Errorf("log holds %d events, want %d", n, seq)
	}
}

// TestFaultsSecretsNeverLeak drives both APIs through every kind of error
// with known fake secrets and looks for them in the logs, /metrics,
// /api/status and the status page.
func TestFaultsSecretsNeverLeak(t *testing.T) {
	r := startRig(t, func(c *Config) { c.Enrich.Enabled = true })
	id := 0
	for _, f := range []apiFault{faultAuth, faultServer, faultRateLimit, faultGarbage, faultHang, faultForbidden} {
		r.bot.setFault(f)
		r.llm.setFault(f)
		id = pump(r, id, 3)
		time.Sleep(400 * time.Millisecond)
	}
	r.bot.setFault(faultNone)
	r.llm.setFault(faultNone)
	var pages []string
	for _, p := range []string{"/metrics", "/api/status", "/", "/api/recent", "/healthz"} {
		resp, err := http.Get("http://" + r.svc.http.addr() + p)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pages = append(pages, p+"\n"+string(b))
	}
	r.stop()
	logs := r.logs.String()
	if !strings.Contains(logs, "level=WARN") && !strings.Contains(logs, "level=ERROR") {
		t.Fatalf("no error was logged: the faults did not happen?\n%s", logs)
	}
	tokenSecret := testTGToken[strings.IndexByte(testTGToken, ':')+1:]
	for _, s := range []string{testTGToken, tokenSecret, testLLMKey} {
		if strings.Contains(logs, s) {
			i := strings.Index(logs, s)
			t.Errorf("secret %q… in the logs: %q", s[:6], logs[max(0, i-200):i])
		}
		for _, p := range pages {
			if strings.Contains(p, s) {
				t.Errorf("secret %q… in %s", s[:6], p[:strings.IndexByte(p, '\n')])
			}
		}
	}
}
