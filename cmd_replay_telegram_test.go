package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// replayBotAPI is a minimal Bot API server for root-package tests: it
// accepts sendMessage/editMessageText and remembers the texts, and which
// method carried each.
type replayBotAPI struct {
	mu      sync.Mutex
	texts   []string
	methods []string
	chats   []int64
	next    int
}

// find returns the first text sent with method that contains sub.
func (f *replayBotAPI) find(method, sub string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, t := range f.texts {
		if f.methods[i] == method && strings.Contains(t, sub) {
			return t, true
		}
	}
	return "", false
}

func (f *replayBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	_ = json.Unmarshal(body, &req)
	method := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	w.Header().Set("Content-Type", "application/json")
	switch method {
	case "sendMessage", "editMessageText":
		f.mu.Lock()
		f.next++
		id := f.next
		s, _ := req["text"].(string)
		f.texts = append(f.texts, s)
		f.methods = append(f.methods, method)
		if c, ok := req["chat_id"].(float64); ok {
			f.chats = append(f.chats, int64(c))
		}
		f.mu.Unlock()
		fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":%d,"chat":{"id":42,"type":"private"},"text":"x"}}`, id, time.Now().Unix())
	case "getUpdates":
		fmt.Fprint(w, `{"ok":true,"result":[]}`)
	default:
		fmt.Fprint(w, `{"ok":true,"result":true}`)
	}
}

func TestReplayToTelegramGoesOnlyToTheShadowChat(t *testing.T) {
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

	api := &replayBotAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	cfg := filepath.Join(dir, "liqbox.conf")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[telegram]
api_url = %s
chats = 7, 8
shadow_chat = 42
min_usd = 1k
[telegram.limits]
per_chat = 10ms
global = 1ms
`, srv.URL)), 0o600)
	t.Setenv("TELEGRAM_BOT_TOKEN", "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"replay", "--db", path, "--config", cfg, "--from", "-1h", "--telegram"}, nil, &out, &errOut); err != nil {
		t.Fatalf("replay --telegram: %v\n%s", err, errOut.String())
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	all := strings.Join(api.texts, "\n")
	for _, want := range []string{"BTCUSDT", "ETHUSDT", "LONG"} {
		if !strings.Contains(all, want) {
			t.Errorf("Telegram did not get %q; got:\n%s", want, all)
		}
	}
	for _, c := range api.chats {
		if c != 42 {
			t.Errorf("replay wrote to chat %d; only the shadow chat 42 may get it", c)
		}
	}
	if strings.Contains(errOut.String(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") {
		t.Error("the bot token appeared in the output")
	}
}
