package service_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// pump broadcasts n alert-sized liquidations (each distinct) and returns the
// first id used next time.
func pump(r *box, from, n int) int {
	base := time.Now().Add(time.Minute).UnixMilli()
	for i := from; i < from+n; i++ {
		r.Exchange.Broadcast(frame("BTCUSDT", "SELL", strconv.Itoa(i+1), "60000", "60000", base+int64(i)))
	}
	return from + n
}

// TestFaultsTelegramAndLLM: Telegram answers 429 storms, 5xx, hangs,
// garbage and 403 while the LLM hangs, answers garbage and 401. The raw
// path never slows: every event is numbered and logged within moments, and
// alerts reach the Bot API on time whenever it is healthy, whatever the LLM
// does.
func TestFaultsTelegramAndLLM(t *testing.T) {
	r := startBox(t, func(c *service.Config, _ *service.Options) { c.Enrich.Enabled = true })
	id, seq := 0, uint64(0)
	phase := func(name string, tg telegramtest.Fault, llm enrichtest.Handler, wantAlertsNow bool) {
		t.Helper()
		r.Bot.SetFault(tg)
		r.LLM.SetHandler(llm)
		before := len(r.Bot.Delivered())
		id = pump(r, id, 5)
		seq += 5
		if d := r.waitSeq(seq, 2*time.Second); d > time.Second {
			t.Errorf("%s: raw path took %v for 5 events", name, d)
		}
		if wantAlertsNow {
			// Five at once fold into a cascade digest: any message counts.
			deadline := time.Now().Add(2 * time.Second)
			for len(r.Bot.Delivered()) == before {
				if time.Now().After(deadline) {
					t.Fatalf("%s: no alert reached the Bot API within 2 s", name)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	phase("LLM hangs", telegramtest.None, enrichtest.Hang(), true)
	phase("LLM garbage", telegramtest.None, enrichtest.Garbage(), true)
	phase("LLM 401", telegramtest.None, enrichtest.Unauthorized(), true)
	phase("LLM 500", telegramtest.None, enrichtest.Status(500, ""), true)
	phase("Telegram 429 storm", telegramtest.RateLimit, nil, false)
	phase("Telegram 500", telegramtest.ServerError, nil, false)
	phase("Telegram hangs", telegramtest.Hang, nil, false)
	phase("Telegram garbage", telegramtest.Garbage, nil, false)
	// Healthy again: what waited is delivered (as alerts or a digest).
	r.Bot.SetFault(telegramtest.None)
	r.LLM.SetHandler(nil)
	before := len(r.Bot.Delivered())
	deadline := time.Now().Add(5 * time.Second)
	for len(r.Bot.Delivered()) == before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(r.Bot.Delivered()) == before {
		t.Error("nothing delivered after Telegram recovered")
	}
	if n := metricSum(r, "liqbox_telegram_errors_total"); n == 0 {
		t.Error("Telegram errors were not counted")
	}
	if n := metricSum(r, "liqbox_enrich_failures_total"); n == 0 {
		t.Error("LLM failures were not counted")
	}
	// 403: the chat blocked the bot; it is unsubscribed, the box goes on.
	r.Bot.SetFault(telegramtest.Forbidden)
	id = pump(r, id, 3)
	seq += 3
	r.waitSeq(seq, 2*time.Second)
	deadline = time.Now().Add(5 * time.Second)
	for metricSum(r, "liqbox_telegram_unsubscribed_total") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if metricSum(r, "liqbox_telegram_unsubscribed_total") == 0 {
		t.Error("403 did not unsubscribe the chat")
	}
	r.stop()
	if d := metricSum(r, "liqbox_store_dropped_total") + metricSum(r, "liqbox_ring_dropped_total"); d != 0 {
		t.Errorf("%v events dropped on the raw path", d)
	}
	if n, err := r.Service.Store().Count(); err == nil && n != int(seq) {
		t.Errorf("log holds %d events, want %d", n, seq)
	}
}

// TestFaultsSecretsNeverLeak drives both APIs through every kind of error
// with known fake secrets and looks for them in the logs, /metrics,
// /api/status and the status page.
func TestFaultsSecretsNeverLeak(t *testing.T) {
	r := startBox(t, func(c *service.Config, _ *service.Options) { c.Enrich.Enabled = true })
	id := 0
	faults := []struct {
		tg  telegramtest.Fault
		llm enrichtest.Handler
	}{
		{telegramtest.Unauthorized, enrichtest.Unauthorized()},
		{telegramtest.ServerError, enrichtest.Status(500, "")},
		{telegramtest.RateLimit, enrichtest.Status(429, "1")},
		{telegramtest.Garbage, enrichtest.Garbage()},
		{telegramtest.Hang, enrichtest.Hang()},
		{telegramtest.Forbidden, enrichtest.Unauthorized()},
	}
	for _, f := range faults {
		r.Bot.SetFault(f.tg)
		r.LLM.SetHandler(f.llm)
		id = pump(r, id, 3)
		time.Sleep(400 * time.Millisecond)
	}
	r.Bot.SetFault(telegramtest.None)
	r.LLM.SetHandler(nil)
	var pages []string
	for _, p := range []string{"/metrics", "/api/status", "/", "/api/recent", "/healthz"} {
		resp, err := http.Get(r.base + p)
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
