package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

func TestReplayToTelegramGoesOnlyToTheShadowChat(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 5 s, the same on every architecture: the full suite runs it")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "log.db")
	st, err := store.Open(path, store.Options{BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	now := time.Now()
	for i, sym := range []string{"BTCUSDT", "ETHUSDT"} {
		ev := event.Event{Seq: uint64(i + 1), Venue: event.BinanceUSDM, Market: event.Linear, Side: event.Long,
			Basis: event.BasisLinear, Symbol: event.MakeSymbol(sym), Price: 50000, Qty: 10, Notional: 500000,
			TimeMs: now.Add(-10 * time.Minute).UnixMilli(), RecvNs: now.Add(-10*time.Minute + time.Duration(i)*time.Second).UnixNano()}
		st.Append(&ev)
	}
	for st.Durable() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	api, err := telegramtest.NewServer(telegramtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	cfg := filepath.Join(dir, "liqbox.conf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[telegram]
api_url = %s
chats = 7, 8
shadow_chat = 42
min_usd = 1k
[telegram.limits]
per_chat = 10ms
global = 1ms
`, api.URL())), 0o600)
	t.Setenv("TELEGRAM_BOT_TOKEN", "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"replay", "--db", path, "--config", cfg, "--from", "-1h", "--telegram"}, nil, &out, &errOut); err != nil {
		t.Fatalf("replay --telegram: %v\n%s", err, errOut.String())
	}
	var texts []string
	for _, m := range api.Delivered() {
		texts = append(texts, m.Text)
		// A replayed alert is not news: it says so, with its age.
		if !strings.HasPrefix(m.Text, "♻️ <b>Replayed from the log</b> · 10 min ") {
			t.Errorf("a replayed alert is not marked as such:\n%s", m.Text)
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"BTCUSDT", "ETHUSDT", "LONG"} {
		if !strings.Contains(all, want) {
			t.Errorf("Telegram did not get %q; got:\n%s", want, all)
		}
	}
	for _, c := range api.Requests("") {
		if c.Chat != 0 && c.Chat != 42 {
			t.Errorf("replay wrote to chat %d; only the shadow chat 42 may get it", c.Chat)
		}
	}
	if strings.Contains(errOut.String(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") {
		t.Error("the bot token appeared in the output")
	}
}

// TestReplayToTelegramSendsCascades: `replay --telegram` runs the rule
// engine too: the cascade reaches the shadow chat as one message, kept
// current to its final summary.
func TestReplayToTelegramSendsCascades(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 5 s, the same on every architecture: the full suite runs it")
	}
	path := cascadeLog(t)
	api, err := telegramtest.NewServer(telegramtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	cfg := filepath.Join(t.TempDir(), "liqbox.conf")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[telegram]\napi_url = %s\nshadow_chat = 42\nmin_usd = 50m\n[telegram.limits]\nper_chat = 10ms\nglobal = 1ms\n", api.URL())), 0o600)
	t.Setenv("TELEGRAM_BOT_TOKEN", "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"replay", "--db", path, "--config", cfg, "--from", cascadeFrom, "--to", "2026-11-27T12:30:00Z",
		"--cascade", "BTC:10M:5m", "--telegram"}, nil, &out, &errOut); err != nil {
		t.Fatalf("replay --telegram: %v\n%s", err, errOut.String())
	}
	var sends, edits int
	var last string
	for _, m := range api.Delivered() {
		if !strings.Contains(m.Text, "Cascade · BTC") {
			continue
		}
		last = m.Text
		if m.Method == "sendMessage" {
			sends++
		} else {
			edits++
		}
	}
	// At full speed the cascade may be over before its alert is out: then
	// the one message is its final summary, with no edit.
	if sends != 1 || !strings.Contains(last, "Over at 12:15:15 UTC") || !strings.Contains(last, "<b>$12M</b>") {
		t.Errorf("%d cascade messages, %d edits, the last:\n%s", sends, edits, last)
	}
}
