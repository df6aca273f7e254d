package service_test

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/service"
)

// TestEndToEndAlertText: a frame played by the loopback exchange goes
// through the real client, ring, pipeline and Telegram bot, and the text
// that reaches sendMessage says venue, symbol, side, USD and price exactly.
func TestEndToEndAlertText(t *testing.T) {
	r := startBox(t, nil)
	// Backlog detection flags events older than the subscription: stamp
	// them a minute ahead, on a whole second.
	tm := time.Now().Add(time.Minute).Truncate(time.Second)
	ms := tm.UnixMilli()
	// A long liquidated (SELL), 2.5 BTC at an average 61,234.5 = $153,086.25;
	// a short liquidated (BUY), 1,000 SOL at 150.25 ("ap" zero: price "p").
	r.Exchange.Broadcast(frame("BTCUSDT", "SELL", "2.5", "61000", "61234.5", ms))
	r.Exchange.Broadcast(frame("SOLUSDT", "BUY", "1000", "150.25", "0", ms+1))
	// Below the chat's $10k threshold: logged, not alerted.
	r.Exchange.Broadcast(frame("DOGEUSDT", "SELL", "100", "0.1", "0.1", ms+2))
	got := r.waitAlerts(2, 10*time.Second)
	clock := tm.UTC().Format("15:04:05")
	want := []string{
		"🔴 <b>LONG liquidated</b> · binance-usdm\n<b>BTCUSDT</b> <b>$153.09K</b> at 61234.5\ntime " + clock + ".000 UTC · on-box ",
		"🟢 <b>SHORT liquidated</b> · binance-usdm\n<b>SOLUSDT</b> <b>$150.25K</b> at 150.25\ntime " + clock + ".001 UTC · on-box ",
	}
	lat := regexp.MustCompile(`^\d+(\.\d\d)? (µs|ms)$`)
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) || !lat.MatchString(strings.TrimPrefix(got[i], w)) {
			t.Errorf("alert %d:\n got %q\nwant %q + latency", i, got[i], w)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(r.alerts()); n != 2 {
		t.Errorf("%d alerts, want 2 (the $10 one is under the threshold)", n)
	}
	r.stop()
	if seq := r.Service.LastSeq(); seq != 3 {
		t.Errorf("pipeline numbered %d events, want 3", seq)
	}
}

// TestObserverSeesLinesAndAnalyses: the observation hook hands the load
// test and the tests what the service did as objects: every terminal
// line's event with the moment it was formatted, and every analysis.
func TestObserverSeesLinesAndAnalyses(t *testing.T) {
	var mu sync.Mutex
	printed := map[uint64]time.Duration{}
	analysed := map[uint64]event.Analysis{}
	b := startBox(t, func(c *service.Config, o *service.Options) {
		c.Alerts.Terminal = true
		c.Alerts.MinUSD = 0
		c.Enrich.Enabled = true // against the loopback LLM
		o.Observer.Printed = func(ev *event.Event, at time.Time) {
			mu.Lock()
			printed[ev.Seq] = time.Duration(at.UnixNano() - ev.RecvNs)
			mu.Unlock()
		}
		o.Observer.Analysed = func(a event.Analysis) {
			mu.Lock()
			analysed[a.Seq] = a
			mu.Unlock()
		}
	})
	b.play(t, liq("BTCUSDT", "SELL", "2", "50000"), liq("DOGEUSDT", "BUY", "10", "0.1"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n, m := len(printed), len(analysed)
		mu.Unlock()
		if n == 2 && m == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observed %d lines and %d analyses, want 2 and 1 (the $1 event is below enrich.min_usd)", n, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for seq, d := range printed {
		if d <= 0 || d > 5*time.Second {
			t.Errorf("seq %d: on-box %v", seq, d)
		}
	}
	if a, ok := analysed[1]; !ok || a.Source != "llm" || a.Summary == "" {
		t.Errorf("analyses %+v, want the LLM's for seq 1", analysed)
	}
}
