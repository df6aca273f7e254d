package telegram

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

const testToken = telegramtest.Token

// memKV is an in-memory KV and AsyncKV (asynchronous writes apply at once).
type memKV struct {
	mu   sync.Mutex
	m    map[string]map[string][]byte
	puts int // synchronous writes
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
	k.puts++
	k.putLocked(b, key, v)
	return nil
}

func (k *memKV) putLocked(b, key, v []byte) {
	if k.m[string(b)] == nil {
		k.m[string(b)] = map[string][]byte{}
	}
	k.m[string(b)][string(key)] = append([]byte(nil), v...)
}

func (k *memKV) PutAsync(b, key, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.putLocked(b, key, v)
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

// fake is the loopback Bot API with the test's helpers.
type fake struct {
	*telegramtest.Server
	t *testing.T
}

func newFakeAPI(t *testing.T) *fake {
	t.Helper()
	return newFakeWith(t, telegramtest.Options{Token: testToken})
}

func newFakeWith(t *testing.T, o telegramtest.Options) *fake {
	t.Helper()
	if o.MaxHold == 0 {
		o.MaxHold = 50 * time.Millisecond
	}
	s, err := telegramtest.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return &fake{Server: s, t: t}
}

// requests is Requests; waitN waits for n requests of method or fails.
func (f *fake) requests(method string) []telegramtest.Request { return f.Requests(method) }

func (f *fake) waitN(method string, n int) []telegramtest.Request {
	f.t.Helper()
	rs, err := f.WaitN(method, n, 8*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

func (f *fake) say(user, chat int64, text string)              { f.Say(user, chat, text) }
func (f *fake) press(user, chat int64, msgID int, data string) { f.Press(user, chat, msgID, data) }

// harness runs a Bot against a fake.
type harness struct {
	f   *fake
	b   *Bot
	kv  *memKV
	ctx context.Context
	// stop ends Run and waits for it (also done at cleanup).
	stop func()
}

const owner = 42

func fastLimits() Limits {
	return Limits{PerChat: time.Millisecond, Burst: 3, Reserve: 1, GroupWindow: time.Second, GroupMax: 1000, Global: time.Microsecond}
}

func testOptions(f *fake, kv *memKV) Options {
	return Options{
		Token: testToken, APIURL: f.URL(), AllowUsers: []int64{owner},
		KV: kv, Limits: fastLimits(), PollInterval: 5 * time.Millisecond, PollTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func newHarness(t *testing.T, f *fake, kv *memKV, mod func(o *Options)) *harness {
	t.Helper()
	o := testOptions(f, kv)
	if mod != nil {
		mod(&o)
	}
	b, ctx, stop := startBot(t, o)
	return &harness{f: f, b: b, kv: kv, ctx: ctx, stop: stop}
}

// startBot builds a Bot and runs it until the returned stop (also called
// at cleanup).
func startBot(t *testing.T, o Options) (*Bot, context.Context, func()) {
	t.Helper()
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return b, ctx, stop
}

// command sends text as user in chat and returns the bot's reply there.
func (h *harness) command(user, chat int64, text string) string {
	h.f.t.Helper()
	n := len(h.f.requests("sendMessage"))
	h.f.say(user, chat, text)
	rs := h.f.waitN("sendMessage", n+1)
	r := rs[n]
	if r.Chat != chat {
		h.f.t.Fatalf("%s: reply went to chat %d, want %d", text, r.Chat, chat)
	}
	return r.Text
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

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkBudget fails when the messages to chat 5 in rs (sends and edits)
// exceed what the budget allows: l.Burst back to back, then one per
// l.PerChat. slack absorbs scheduling noise, in messages.
func checkBudget(t *testing.T, rs []telegramtest.Request, slack float64, l Limits) {
	t.Helper()
	var at []time.Time
	for _, r := range rs {
		if (r.Method == "sendMessage" || r.Method == "editMessageText") && r.Chat == 5 {
			at = append(at, r.At)
		}
	}
	for i := range at {
		for j := i + 1; j < len(at); j++ {
			allowed := float64(l.Burst) + float64(at[j].Sub(at[i]))/float64(l.PerChat) + slack
			if n := float64(j - i + 1); n > allowed {
				t.Fatalf("%v messages in %v: the budget allows %.1f", n, at[j].Sub(at[i]), allowed)
			}
		}
	}
}
