package service_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// cascadeMessages returns the Bot API's requests about cascade messages.
func cascadeMessages(bot *telegramtest.Server) []telegramtest.Request {
	var out []telegramtest.Request
	for _, m := range bot.Delivered() {
		if strings.Contains(m.Text, "Cascade · ") {
			out = append(out, m)
		}
	}
	return out
}

func waitCascadeMessages(t *testing.T, bot *telegramtest.Server, what string, ok func([]telegramtest.Request) bool) []telegramtest.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms := cascadeMessages(bot)
		if ok(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; cascade requests: %+v", what, ms)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cascadeRules(t *testing.T, specs ...string) []cascade.Rule {
	var out []cascade.Rule
	for _, s := range specs {
		r, err := cascade.ParseSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestCascadeEndToEnd: frames from the loopback exchange cross a chat's
// cascade rule (from telegram.cascades); the cascade alert reaches the
// Bot API within a second of the frame that crossed, through the real
// client, pipeline, rule engine and bot; the observation hook sees it;
// the model's read of the cascade is edited into the message.
func TestCascadeEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var seen []cascade.Snapshot
	b := startBox(t, func(c *service.Config, o *service.Options) {
		c.Telegram.MinUSD = 50e6 // no raw alert: only the cascade's
		c.Telegram.Cascades = cascadeRules(t, "BTC:1M:1m")
		c.Enrich.Enabled = true // against the loopback LLM
		o.Observer.Cascade = func(x *cascade.Snapshot) {
			mu.Lock()
			seen = append(seen, *x)
			mu.Unlock()
		}
	})
	b.play(t, liq("BTCUSDT", "SELL", "10", "50000")) // $500K
	sent := time.Now()
	b.play(t, liq("BTCUSDT", "SELL", "10", "50000")) // $1M: crosses
	ms := waitCascadeMessages(t, b.Bot, "the cascade alert", func(ms []telegramtest.Request) bool { return len(ms) > 0 })
	first := ms[0]
	if first.Method != "sendMessage" || first.Chat != loadtest.BenchChat {
		t.Fatalf("first cascade request %+v", first)
	}
	if d := first.At.Sub(sent); d > time.Second {
		t.Errorf("cascade alert at the Bot API %v after the frame that crossed, want within 1 s", d)
	}
	if !strings.Contains(first.Text, "<b>$1M</b> liquidated · rule $1M within 1 min") || !strings.Contains(first.Text, "binance-usdm $1M (2) · sampled") {
		t.Errorf("cascade alert:\n%s", first.Text)
	}
	defer func() {
		if t.Failed() {
			t.Log(b.logs.String())
		}
	}()
	waitCascadeMessages(t, b.Bot, "the cascade's analysis", func(ms []telegramtest.Request) bool {
		for _, m := range ms {
			if m.Method == "editMessageText" && m.MsgID == first.MsgID && strings.Contains(m.Text, "Analysis (model ") {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[0].State != cascade.Open || seen[0].Owner != loadtest.BenchChat || seen[0].FiredSeq != 2 {
		t.Errorf("observed %+v", seen)
	}
}

// TestCascadeSurvivesRestart: a cascade open when the service stops goes
// on after the restart in the message the chat already has (the engine is
// rebuilt from the log): no second message.
func TestCascadeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	edit := func(c *service.Config, o *service.Options) {
		c.Telegram.MinUSD = 50e6
		c.Telegram.Cascades = cascadeRules(t, "BTC:1M:5m")
		o.TGToken = testTGToken
	}
	r1, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: dir, Edit: edit})
	if err != nil {
		t.Fatal(err)
	}
	b1 := &box{Rig: r1, t: t, logs: &syncBuffer{}}
	b1.play(t, liq("BTCUSDT", "SELL", "30", "50000")) // $1.5M: crosses at once
	first := waitCascadeMessages(t, r1.Bot, "the cascade alert", func(ms []telegramtest.Request) bool { return len(ms) > 0 })[0]
	time.Sleep(300 * time.Millisecond) // the message id reaches the log in the next batch
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}

	r2, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: dir, Edit: edit})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	b2 := &box{Rig: r2, t: t, logs: &syncBuffer{}}
	b2.play(t, liq("BTCUSDT", "SELL", "10", "50000")) // $2M now
	ms := waitCascadeMessages(t, r2.Bot, "the message edited with the growth", func(ms []telegramtest.Request) bool {
		for _, m := range ms {
			if m.Method == "editMessageText" && m.MsgID == first.MsgID && strings.Contains(m.Text, "<b>$2M</b>") {
				return true
			}
		}
		return false
	})
	for _, m := range ms {
		if m.Method == "sendMessage" {
			t.Errorf("a second cascade message after the restart:\n%s", m.Text)
		}
	}
}
