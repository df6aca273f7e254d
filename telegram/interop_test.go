package telegram

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// emulator drives telegram-test-api's client side: a fake user who sends
// commands and presses buttons, and reads what the bot sent.
type emulator struct {
	t     *testing.T
	base  string
	token string
	seen  []map[string]any // bot messages read so far
}

func (e *emulator) post(path string, body any) map[string]any {
	e.t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(e.base+path, "application/json", bytes.NewReader(data))
	if err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("%s: cannot decode answer: %v", path, err)
	}
	return out
}

func (e *emulator) user() map[string]any {
	return map[string]any{"id": owner, "first_name": "Owner", "is_bot": false}
}

func (e *emulator) chat(id int64) map[string]any {
	return map[string]any{"id": id, "type": "private", "first_name": "Owner"}
}

func (e *emulator) command(chat int64, text string) {
	cmd := strings.Fields(text)[0]
	e.post("/sendCommand", map[string]any{
		"botToken": e.token, "from": e.user(), "chat": e.chat(chat), "date": time.Now().Unix(), "text": text,
		"entities": []map[string]any{{"type": "bot_command", "offset": 0, "length": len(cmd)}},
	})
}

func (e *emulator) press(chat int64, msgID float64, data string) {
	e.post("/sendCallback", map[string]any{
		"botToken": e.token, "from": e.user(), "data": data,
		"message": map[string]any{"message_id": msgID, "date": time.Now().Unix(), "chat": e.chat(chat)},
	})
}

// waitBot waits for a bot message in chat whose text contains want.
func (e *emulator) waitBot(chat int64, want string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out := e.post("/getUpdates", map[string]any{"token": e.token, "chatId": chat})
		res, _ := out["result"].([]any)
		for _, r := range res {
			if u, ok := r.(map[string]any); ok {
				if m, ok := u["message"].(map[string]any); ok {
					// The emulator keeps the id beside the message it stored.
					if _, has := m["message_id"]; !has {
						m["message_id"] = u["messageId"]
					}
					e.seen = append(e.seen, m)
				}
			}
		}
		for _, m := range e.seen {
			if s, _ := m["text"].(string); strings.Contains(s, want) {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("no bot message containing %q; saw %v", want, e.seen)
	return nil
}

// TestInteropTelegramTestAPI runs the bot against telegram-test-api, an
// independent Bot API emulator. Start it with telegram/testdata/tg-emulator.js
// and set LIQBOX_TELEGRAM_TEST_API to its base URL.
func TestInteropTelegramTestAPI(t *testing.T) {
	base := strings.TrimRight(os.Getenv("LIQBOX_TELEGRAM_TEST_API"), "/")
	if base == "" {
		t.Skip("LIQBOX_TELEGRAM_TEST_API is not set: start telegram-test-api with `node telegram/testdata/tg-emulator.js` and set it to http://127.0.0.1:9000 to run this test")
	}
	// A token of our own per run keeps runs against one emulator apart.
	token := fmt.Sprintf("%d:%035d", time.Now().UnixNano()%1e9, time.Now().UnixNano())
	o := Options{
		Token: token, APIURL: base, AllowUsers: []int64{owner}, KV: newMemKV(),
		Limits: fastLimits(), PollInterval: 100 * time.Millisecond, PollTimeout: time.Second,
	}
	b, _, _ := startBot(t, o)

	e := &emulator{t: t, base: base, token: token}
	const chat = 4242
	e.command(chat, "/start")
	e.waitBot(chat, "Subscribed")
	e.command(chat, "/setthreshold 100k")
	e.waitBot(chat, "Threshold set to $100K")

	ev := testEvent("BTCUSDT", event.Long, 150_000)
	ev.Seq = 1
	b.Offer(&ev)
	m := e.waitBot(chat, "LONG liquidated")
	kb, _ := m["reply_markup"].(map[string]any)
	rows, _ := kb["inline_keyboard"].([]any)
	if len(rows) == 0 {
		t.Fatalf("alert without buttons: %v", m)
	}
	btn := rows[0].([]any)[0].(map[string]any)
	if btn["callback_data"] != "mute:BTCUSDT:1h" {
		t.Fatalf("mute button = %v", btn)
	}
	e.press(chat, m["message_id"].(float64), btn["callback_data"].(string))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := b.known(chat).cfg.Load().Mutes["BTCUSDT"]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mute button did not mute BTCUSDT")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
