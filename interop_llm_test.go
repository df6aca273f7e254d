package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/store"
)

// TestInteropMockLLMEditsTheAlert runs the whole service against the
// independent OpenAI-compatible mock (@dwmkerr/mock-llm, started by .ci/run
// with enrich/testdata/mock-llm.yaml): two liquidations arrive from a
// loopback exchange, both are alerted through a loopback Bot API, one
// batched request gets the model's JSON answer, and each alert is edited to
// carry it.
func TestInteropMockLLMEditsTheAlert(t *testing.T) {
	base := os.Getenv("LIQBOX_MOCK_LLM_URL")
	if base == "" {
		t.Skip("LIQBOX_MOCK_LLM_URL not set: start @dwmkerr/mock-llm with enrich/testdata/mock-llm.yaml (see .ci/run)")
	}
	dir := t.TempDir()
	// The mock answers alerts 9001 and 9002: start the log at 9000.
	st, err := store.Open(filepath.Join(dir, "liqbox.db"), store.Options{BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan error, 1)
	go func() { sdone <- st.Run(sctx) }()
	seed := event.Event{Seq: 9000, Venue: event.BinanceUSDM, Side: event.Long, Symbol: event.MakeSymbol("SEEDUSDT"),
		Price: 1, Qty: 1, Notional: 1, Basis: event.BasisLinear, TimeMs: 1, RecvNs: time.Now().Add(-time.Hour).UnixNano()}
	st.Append(&seed)
	for st.Durable() < 9000 {
		time.Sleep(time.Millisecond)
	}
	scancel()
	<-sdone
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	ex, err := ingesttest.NewLoopback(ingesttest.LoopbackOptions{Path: "/market/stream"})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	api := &replayBotAPI{}
	tg := httptest.NewServer(api)
	defer tg.Close()

	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	demoConfig(cfg, ex.URL("/market/stream?streams=!forceOrder@arr"), dir, 1)
	cfg.Store.Path = "liqbox.db"
	cfg.Alerts.Terminal = false
	cfg.Telegram.Enabled = true
	cfg.Telegram.APIURL = tg.URL
	cfg.Telegram.Chats = []int64{42}
	cfg.Telegram.MinUSD = 1000
	cfg.Telegram.Limits.PerChat = 10 * time.Millisecond
	cfg.Telegram.Limits.Global = time.Millisecond
	cfg.Enrich.Enabled = true
	cfg.Enrich.BaseURL = base
	cfg.Enrich.MinUSD = 1000
	cfg.Enrich.Window = 2 * time.Second
	cfg.Enrich.MaxBatch = 2
	svc, err := newService(serviceOptions{
		Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard,
		TGToken: "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", LLMKey: "interop-key", Listener: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service: %v", err)
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := ex.WaitClients(wctx, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	frame := func(sym, side, q, p string, ts int64) []byte {
		return []byte(fmt.Sprintf(`{"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":%d,"o":{"s":"%s","S":"%s","o":"LIMIT","f":"IOC","q":"%s","p":"%s","ap":"%s","X":"FILLED","l":"%s","z":"%s","T":%d}}}`,
			ts+2, sym, side, q, p, p, q, q, ts))
	}
	ex.Broadcast(frame("BTCUSDT", "SELL", "20", "60000", now))
	ex.Broadcast(frame("ETHUSDT", "BUY", "2", "3000", now+1))

	deadline := time.Now().Add(20 * time.Second)
	var edited string
	for time.Now().Before(deadline) {
		if s, ok := api.find("editMessageText", "Cut leverage on BTC longs"); ok {
			edited = s
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if edited == "" {
		api.mu.Lock()
		t.Fatalf("the BTC alert was not edited with the model's analysis; Bot API saw %q %q", api.methods, api.texts)
	}
	for _, want := range []string{"BTCUSDT", "LONG", "deepseek-v3.2", "HIGH", "Largest BTC long liquidation"} {
		if !strings.Contains(edited, want) {
			t.Errorf("edited alert lacks %q:\n%s", want, edited)
		}
	}
	if _, ok := api.find("sendMessage", "ETHUSDT"); !ok {
		t.Error("the ETH alert was not sent")
	}
}
