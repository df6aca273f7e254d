package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// rig is the whole box on loopback: exchange, service, Bot API and LLM.
type rig struct {
	t    *testing.T
	ex   *ingesttest.Loopback
	bot  *botAPI
	llm  *llmAPI
	svc  *service
	dir  string
	logs *syncBuffer

	cancel context.CancelFunc
	done   chan error
}

// syncBuffer is a bytes.Buffer safe for the service's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Fake secrets shaped like the real ones; the secrets test looks for them.
const (
	testTGToken = "987654:AAFakeTokenForLiqboxTests_0123456-x"
	testLLMKey  = "sk-liqbox-test-5ecret-key-0123456789abcdef"
)

// startRig runs the service against loopback peers. mutate adjusts the
// config before the service is built.
func startRig(t *testing.T, mutate func(c *Config)) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), logs: &syncBuffer{}, done: make(chan error, 1)}
	var err error
	if r.ex, err = ingesttest.NewLoopback(ingesttest.LoopbackOptions{Path: "/market/stream"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ex.Close() })
	if r.bot, err = newBotAPI(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.bot.close)
	if r.llm, err = newLLMAPI(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.llm.close)
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	benchConfig(cfg, r.ex.URL("/market/stream?streams=!forceOrder@arr"), r.dir, 1)
	cfg.General.LogLevel = "debug"
	cfg.Alerts.Terminal = false
	cfg.Telegram.APIURL = r.bot.url()
	cfg.Telegram.MinUSD = 10000
	cfg.Telegram.Limits.PerChat = 20 * time.Millisecond
	cfg.Telegram.Limits.Global = time.Millisecond
	cfg.Enrich.Enabled = false
	cfg.Enrich.BaseURL = r.llm.url() + "/v1"
	cfg.Enrich.Timeout = 500 * time.Millisecond
	cfg.Enrich.Window = 20 * time.Millisecond
	cfg.Enrich.MinUSD = 10000
	if mutate != nil {
		mutate(cfg)
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.svc, err = newService(serviceOptions{Config: cfg, Logger: log, Stdout: io.Discard, Listener: "127.0.0.1:0",
		TGToken: testTGToken, LLMKey: testLLMKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.svc.run(ctx) }()
	t.Cleanup(r.stop)
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := r.ex.WaitClients(wctx, 1); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		r.t.Errorf("service: %v", err)
	}
}

// alerts returns the texts of every sendMessage that is a single alert.
func (r *rig) alerts() []string {
	var out []string
	for _, m := range r.bot.messages() {
		if m.Method == "sendMessage" && strings.Contains(m.Text, " liquidated</b>") {
			out = append(out, m.Text)
		}
	}
	return out
}

func (r *rig) waitAlerts(n int, d time.Duration) []string {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		a := r.alerts()
		if len(a) >= n {
			return a
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d alerts at the Bot API after %v, want %d", len(a), d, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// frame builds a Binance USD-M combined-stream frame.
func frame(sym, side, qty, price, avg string, tMs int64) []byte {
	t := strconv.FormatInt(tMs, 10)
	return []byte(`{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":` + t + `,"o":{"s":"` + sym + `","S":"` + side +
		`","o":"LIMIT","f":"IOC","q":"` + qty + `","p":"` + price + `","ap":"` + avg + `","X":"FILLED","l":"` + qty +
		`","z":"` + qty + `","T":` + t + `}}}`)
}

// TestEndToEndAlertText: a frame played by the loopback exchange goes
// through the real client, ring, pipeline and Telegram bot, and the text
// that reaches sendMessage says venue, symbol, side, USD and price exactly.
func TestEndToEndAlertText(t *testing.T) {
	r := startRig(t, nil)
	// Backlog detection flags events older than the subscription: stamp
	// them a minute ahead, on a whole second.
	tm := time.Now().Add(time.Minute).Truncate(time.Second)
	ms := tm.UnixMilli()
	// A long liquidated (SELL), 2.5 BTC at an average 61,234.5 = $153,086.25;
	// a short liquidated (BUY), 1,000 SOL at 150.25 ("ap" zero: price "p").
	r.ex.Broadcast(frame("BTCUSDT", "SELL", "2.5", "61000", "61234.5", ms))
	r.ex.Broadcast(frame("SOLUSDT", "BUY", "1000", "150.25", "0", ms+1))
	// Below the chat's $10k threshold: logged, not alerted.
	r.ex.Broadcast(frame("DOGEUSDT", "SELL", "100", "0.1", "0.1", ms+2))
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
	if seq := r.svc.pipe.LastSeq(); seq != 3 {
		t.Errorf("pipeline numbered %d events, want 3", seq)
	}
}
