package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// testToken has the shape telego insists on.
const testToken = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"

// memKV is an in-memory KV.
type memKV struct {
	mu sync.Mutex
	m  map[string]map[string][]byte
}

func newMemKV() *memKV { return &memKV{m: map[string]map[string][]byte{}} }

func (k *memKV) Get(b, key []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := k.m[string(b)][string(key)]
	return append([]byte(nil), v...), nil
}
func (k *memKV) Put(b, key, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m[string(b)] == nil {
		k.m[string(b)] = map[string][]byte{}
	}
	k.m[string(b)][string(key)] = append([]byte(nil), v...)
	return nil
}
func (k *memKV) Delete(b, key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m[string(b)], string(key))
	return nil
}
func (k *memKV) ForEach(b []byte, fn func(k, v []byte) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, v := range k.m[string(b)] {
		if err := fn([]byte(key), v); err != nil {
			return err
		}
	}
	return nil
}

// apiReq is one request the fake Bot API server received.
type apiReq struct {
	method string
	body   map[string]any
	at     time.Time
	id     int // the message id the fake answered with
}

func (r apiReq) chat() int64 {
	if v, ok := r.body["chat_id"].(float64); ok {
		return int64(v)
	}
	if s, ok := r.body["chat_id"].(string); ok {
		var id int64
		fmt.Sscan(s, &id)
		return id
	}
	return 0
}

func (r apiReq) text() string { s, _ := r.body["text"].(string); return s }

// fakeAPI is a loopback Bot API server that records every request. hook,
// when set, may answer a request itself (status, JSON body).
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []apiReq
	updates []map[string]any
	nextUpd int
	nextMsg int
	hook    func(method string, body map[string]any) (int, string, bool)
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, nextUpd: 100, nextMsg: 1000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	if !strings.HasPrefix(r.URL.Path, "/bot"+testToken+"/") {
		http.Error(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`, 401)
		return
	}
	body := map[string]any{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if err := r.ParseMultipartForm(10 << 20); err == nil {
			for k, v := range r.MultipartForm.Value {
				body[k] = v[0]
			}
			for k := range r.MultipartForm.File {
				body[k] = "<file>"
			}
		}
	} else {
		data, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(data, &body)
	}
	if method == "getUpdates" {
		f.getUpdates(w, body)
		return
	}
	f.mu.Lock()
	f.nextMsg++
	id := f.nextMsg
	f.reqs = append(f.reqs, apiReq{method: method, body: body, at: time.Now(), id: id})
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		if status, resp, ok := hook(method, body); ok {
			w.WriteHeader(status)
			io.WriteString(w, resp)
			return
		}
	}
	switch method {
	case "answerCallbackQuery":
		io.WriteString(w, `{"ok":true,"result":true}`)
	default:
		chat := apiReq{body: body}.chat()
		fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":1,"chat":{"id":%d,"type":"private"}}}`, id, chat)
	}
}

func (f *fakeAPI) getUpdates(w http.ResponseWriter, body map[string]any) {
	f.mu.Lock()
	f.reqs = append(f.reqs, apiReq{method: "getUpdates", body: body, at: time.Now()})
	ups := f.updates
	f.updates = nil
	f.mu.Unlock()
	if len(ups) == 0 {
		time.Sleep(20 * time.Millisecond) // a short long-poll
	}
	data, _ := json.Marshal(map[string]any{"ok": true, "result": append([]map[string]any{}, ups...)})
	w.Write(data)
}

func (f *fakeAPI) push(u map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextUpd++
	u["update_id"] = f.nextUpd
	f.updates = append(f.updates, u)
}

func chatJSON(id int64) map[string]any {
	typ := "private"
	if id < 0 {
		typ = "group"
	}
	return map[string]any{"id": id, "type": typ}
}

// say pushes a text message from user in chat.
func (f *fakeAPI) say(user, chat int64, text string) {
	f.push(map[string]any{"message": map[string]any{
		"message_id": 1, "date": 1, "text": text,
		"from": map[string]any{"id": user, "is_bot": false, "first_name": "u"},
		"chat": chatJSON(chat),
	}})
}

// press pushes a callback query (an inline button press).
func (f *fakeAPI) press(user, chat int64, msgID int, data string) {
	f.push(map[string]any{"callback_query": map[string]any{
		"id": "cb1", "chat_instance": "x", "data": data,
		"from":    map[string]any{"id": user, "is_bot": false, "first_name": "u"},
		"message": map[string]any{"message_id": msgID, "date": 1, "chat": chatJSON(chat)},
	}})
}

// requests returns the recorded requests for method ("" for all).
func (f *fakeAPI) requests(method string) []apiReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []apiReq
	for _, r := range f.reqs {
		if method == "" || r.method == method {
			out = append(out, r)
		}
	}
	return out
}

// waitN waits until at least n requests of method exist and returns them.
func (f *fakeAPI) waitN(method string, n int) []apiReq {
	f.t.Helper()
	deadline := time.Now().Add(8 * time.Second)
	for {
		rs := f.requests(method)
		if len(rs) >= n {
			return rs
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %d %s requests, have %d", n, method, len(rs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// harness runs a Bot against a fakeAPI.
type harness struct {
	f   *fakeAPI
	b   *Bot
	kv  *memKV
	ctx context.Context
}

const owner = 42

func fastLimits() Limits {
	return Limits{PerChat: time.Millisecond, GroupWindow: time.Second, GroupMax: 1000, Global: time.Microsecond}
}

func newHarness(t *testing.T, f *fakeAPI, kv *memKV, mod func(o *Options)) *harness {
	t.Helper()
	o := Options{
		Token: testToken, APIURL: f.srv.URL, AllowUsers: []int64{owner},
		KV: kv, Limits: fastLimits(), PollInterval: 5 * time.Millisecond, PollTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&o)
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &harness{f: f, b: b, kv: kv, ctx: ctx}
}

// command sends text as user in chat and returns the bot's reply there.
func (h *harness) command(user, chat int64, text string) string {
	h.f.t.Helper()
	n := len(h.f.requests("sendMessage"))
	h.f.say(user, chat, text)
	rs := h.f.waitN("sendMessage", n+1)
	r := rs[n]
	if r.chat() != chat {
		h.f.t.Fatalf("%s: reply went to chat %d, want %d", text, r.chat(), chat)
	}
	return r.text()
}

func testEvent(sym string, side event.Side, usd float64) event.Event {
	now := time.Now()
	price := 65000.0
	return event.Event{
		Seq: 1, RecvNs: now.UnixNano(), TimeMs: now.UnixMilli() - 3,
		Price: price, Qty: usd / price, Notional: usd,
		Venue: event.BinanceUSDM, Market: event.Linear, Side: side, Basis: event.BasisLinear,
		Symbol: event.MakeSymbol(sym),
	}
}
