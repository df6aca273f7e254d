package telegram

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// cascadeHarness is a bot wired to a real rule engine, which Run ticks.
type cascadeHarness struct {
	*harness
	eng *cascade.Engine
}

func newCascadeHarness(t *testing.T, f *fake, kv *memKV, mod func(o *Options)) *cascadeHarness {
	t.Helper()
	sink := &LateSink{}
	eng := cascade.New(cascade.Options{Sink: sink, Tick: 20 * time.Millisecond})
	h := newHarness(t, f, kv, func(o *Options) {
		o.Cascades = eng
		o.CascadeEdit = 150 * time.Millisecond
		if mod != nil {
			mod(o)
		}
	})
	sink.SetBot(h.b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &cascadeHarness{harness: h, eng: eng}
}

func TestCascadeCommands(t *testing.T) {
	f := newFakeAPI(t)
	kv := newMemKV()
	h := newCascadeHarness(t, f, kv, nil)
	const chat = 5
	h.command(owner, chat, "/start")
	if got := h.command(owner, chat, "/cascades"); !strings.Contains(got, "No cascade rules") {
		t.Errorf("/cascades with none: %q", got)
	}
	cases := []struct{ cmd, want string }{
		{"/cascade BTC 10M 5m", "Rule 1 set. Alert when $10M of BTC positions are liquidated within 5 min, all venues, both sides."},
		// The amount comes first: 10m is ten million.
		{"/cascade eth 10m 5m long", "Rule 2 set. Alert when $10M of ETH long positions are liquidated within 5 min, all venues."},
		{"/cascade all 50M 15m short", "Rule 3 set. Alert when $50M of short positions across the market are liquidated within 15 min, all venues."},
		{"/cascade XBT 2.5m 1h30m", "Rule 4 set. Alert when $2.5M of BTC positions are liquidated within 1 h 30 min, all venues, both sides."},
		{"/cascade BTC 10M 5m", "Rule 1 is that rule already."},
		{"/cascade SOL 1M 1h", "Rule 5 set."},
		{"/cascade DOGE 1M 1h", "At most 5 rules"},
	}
	for _, c := range cases {
		if got := h.command(owner, chat, c.cmd); !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.cmd, got, c.want)
		}
	}
	for _, bad := range []string{"/cascade", "/cascade BTC", "/cascade BTC 5k 5m", "/cascade BTC 10M 30s", "/cascade BTC 10M 2d",
		"/cascade BTC 10M 5m sideways", "/cascade <b> 10M 5m", "/cascade 5m 10M BTC"} {
		if got := h.command(owner, chat, bad); !strings.HasPrefix(got, "Usage: /cascade ASSET USD WINDOW") {
			t.Errorf("%s: %q, want the usage line", bad, got)
		}
	}
	for _, bad := range []string{"/cascade off", "/cascade off 0", "/cascade off 9", "/cascade off x"} {
		if got := h.command(owner, chat, bad); !strings.HasPrefix(got, "Usage: /cascade off N") {
			t.Errorf("%s: %q", bad, got)
		}
	}
	if got := h.command(owner, chat, "/cascade off 2"); got != "Rule 2 removed: Alert when $10M of ETH long positions are liquidated within 5 min, all venues." {
		t.Errorf("/cascade off 2: %q", got)
	}
	list := h.command(owner, chat, "/cascades")
	want := "Cascade rules:\n1. Alert when $10M of BTC positions are liquidated within 5 min, all venues, both sides.\n" +
		"2. Alert when $50M of short positions across the market are liquidated within 15 min, all venues.\n" +
		"3. Alert when $2.5M of BTC positions are liquidated within 1 h 30 min, all venues, both sides.\n" +
		"4. Alert when $1M of SOL positions are liquidated within 1 h, all venues, both sides."
	if list != want {
		t.Errorf("/cascades:\n%s\nwant\n%s", list, want)
	}
	if got := h.eng.Rules(chat); len(got) != 4 || got[1].String() != "all:50M:15m:short" {
		t.Errorf("the engine has %v", got)
	}
	// Vietnamese echo.
	h.command(owner, chat, "/lang vi")
	if got := h.command(owner, chat, "/cascade ADA 1M 1h long"); got != "Đã đặt quy tắc 5. Báo khi $1M vị thế long ADA bị thanh lý trong vòng 1 giờ, trên mọi sàn." {
		t.Errorf("vi echo: %q", got)
	}
	if got := h.command(owner, chat, "/cascade all 50M 15m"); !strings.Contains(got, "Báo khi $50M vị thế trên toàn thị trường bị thanh lý trong vòng 15 phút, trên mọi sàn, cả long và short.") &&
		!strings.Contains(got, "Tối đa 5 quy tắc") {
		t.Errorf("vi: %q", got)
	}
	// Stopping takes the rules out of the engine; starting puts them back.
	h.command(owner, chat, "/stop")
	if got := h.eng.Rules(chat); len(got) != 0 {
		t.Errorf("a stopped chat has %d rules in the engine", len(got))
	}
	h.command(owner, chat, "/start")

	// Persistence: a new bot on the same log has the same rules, and
	// hands them to its engine at once.
	h.stop()
	h2 := newCascadeHarness(t, f, kv, nil)
	if got := h2.eng.Rules(chat); len(got) != 5 || got[4].String() != "ADA:1M:1h:long" {
		t.Fatalf("after a restart the engine has %v", got)
	}
	if got := h2.command(owner, chat, "/cascades"); !strings.Contains(got, "5. Báo khi $1M vị thế long ADA") {
		t.Errorf("after a restart: %q", got)
	}
}

func TestCascadeConfiguredDefaults(t *testing.T) {
	def := []cascade.Rule{mustRule(t, "BTC:10M:5m"), mustRule(t, "all:50M:15m:long")}
	h := newCascadeHarness(t, newFakeAPI(t), newMemKV(), func(o *Options) {
		o.Chats = []int64{5}
		o.CascadeRules = def
	})
	if got := h.eng.Rules(5); len(got) != 2 {
		t.Fatalf("a configured chat has %v, want the defaults", got)
	}
	if got := h.command(owner, 5, "/cascades"); !strings.HasPrefix(got, "Cascade rules (the box's defaults") {
		t.Errorf("/cascades: %q", got)
	}
	// Removing a default makes the chat's rules its own.
	h.command(owner, 5, "/cascade off 1")
	if got := h.eng.Rules(5); len(got) != 1 || got[0] != def[1] {
		t.Errorf("after off 1: %v", got)
	}
	if got := h.command(owner, 5, "/cascades"); !strings.HasPrefix(got, "Cascade rules:\n1. Alert when $50M of long") {
		t.Errorf("/cascades: %q", got)
	}
}

func mustRule(t *testing.T, spec string) cascade.Rule {
	t.Helper()
	r, err := cascade.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func liqNow(v event.Venue, sym string, side event.Side, usd float64, seq uint64) event.Event {
	ev := testEvent(sym, side, usd)
	ev.Venue, ev.Seq = v, seq
	return ev
}

// cascadeRequests returns the requests about cascade messages, in order.
func cascadeRequests(f *fake) []telegramtest.Request {
	var out []telegramtest.Request
	for _, r := range f.Delivered() {
		if strings.Contains(r.Text, "Cascade · ") || strings.Contains(r.Text, "Chuỗi thanh lý · ") {
			out = append(out, r)
		}
	}
	return out
}

// TestCascadeMessageKeptCurrent: one message per cascade, sent at once
// when the rule crosses, edited in place as it grows (never faster than
// the edit interval, within the chat's budget), given its analysis, and
// closed with a final summary; the raw alerts of the chat meanwhile go at
// once.
func TestCascadeMessageKeptCurrent(t *testing.T) {
	f := newFakeAPI(t)
	h := newCascadeHarness(t, f, newMemKV(), func(o *Options) {
		o.Limits = Limits{PerChat: 100 * time.Millisecond, Burst: 3, Reserve: 1, GroupWindow: time.Second, GroupMax: 1000, Global: time.Microsecond}
	})
	const chat = 5
	h.command(owner, chat, "/start")
	h.command(owner, chat, "/setthreshold 5m") // raw alerts only for the $6M below
	h.command(owner, chat, "/cascade BTC 1M 1m")
	seq := uint64(0)
	offer := func(v event.Venue, sym string, usd float64) time.Time {
		seq++
		ev := liqNow(v, sym, event.Long, usd, seq)
		at := time.Unix(0, ev.RecvNs)
		h.b.Offer(&ev)
		h.eng.Offer(&ev)
		return at
	}
	offer(event.BinanceUSDM, "BTCUSDT", 400_000)
	offer(event.Bybit, "BTCUSDT", 400_000)
	crossed := offer(event.OKX, "BTC-USDT-SWAP", 400_000) // $1.2M ≥ $1M
	rs := waitCascade(t, f, 1)
	first := rs[0]
	if first.Method != "sendMessage" {
		t.Fatalf("first cascade request is %s", first.Method)
	}
	if d := first.At.Sub(crossed); d > time.Second {
		t.Errorf("the cascade alert reached the Bot API %v after the crossing liquidation, want within 1 s", d)
	}
	for _, want := range []string{"🌊 <b>Cascade · BTC</b>", "<b>$1.2M</b> liquidated · rule $1M within 1 min", "liquidations: 3",
		"binance-usdm $400K (1) · sampled", "bybit $400K (1)", "okx $400K (1) · sampled", "1. LONG BTCUSDT $400K",
		"⚠️ Lower bound: binance-usdm, okx send at most one liquidation per symbol a second", "<i>Still going · last 1 min: $1.2M"} {
		if !strings.Contains(first.Text, want) {
			t.Errorf("cascade alert lacks %q:\n%s", want, first.Text)
		}
	}
	// It grows: edits of the same message, no new one.
	for i := 0; i < 30; i++ {
		offer(event.BitMEX, "XBTUSD", 100_000)
		time.Sleep(40 * time.Millisecond)
	}
	rawAt := offer(event.Bybit, "ETHUSDT", 6_000_000) // a raw alert during the cascade, of another asset
	open := h.eng.Open(chat)
	if len(open) != 1 {
		t.Fatalf("%d cascades open", len(open))
	}
	h.b.CascadeAnalysis(chat, open[0].ID, event.Analysis{Risk: event.RiskHigh, Summary: "Longs are being flushed.",
		Recommendation: "Cut leverage.", Source: "llm", Model: "m", Lang: "en"})
	waitFor(t, 5*time.Second, "an edit with the analysis and the growth", func() bool {
		for _, r := range cascadeRequests(f) {
			if r.Method == "editMessageText" && strings.Contains(r.Text, "Longs are being flushed.") && strings.Contains(r.Text, "<b>$4.2M</b>") {
				return true
			}
		}
		return false
	})
	var raw *telegramtest.Request
	for _, r := range f.Delivered() {
		if strings.Contains(r.Text, "LONG liquidated") && strings.Contains(r.Text, "$6M") {
			raw = &r
		}
	}
	if raw == nil {
		t.Fatal("the raw alert was not sent")
	}
	if d := raw.At.Sub(rawAt); d > 200*time.Millisecond {
		t.Errorf("a raw alert during the cascade waited %v", d)
	}
	// Then it falls away: three minutes later (the engine's clock moved
	// on) the window is empty and the quiet minute has passed.
	h.eng.Advance(time.Now().Add(3 * time.Minute).UnixNano())
	waitFor(t, 5*time.Second, "the final summary", func() bool {
		rs := cascadeRequests(f)
		return strings.Contains(rs[len(rs)-1].Text, "Over at ")
	})
	rs = cascadeRequests(f)
	sends := 0
	var edits []time.Time
	for _, r := range rs {
		switch r.Method {
		case "sendMessage":
			sends++
		case "editMessageText":
			if r.MsgID != first.MsgID {
				t.Errorf("an edit of message %d, the cascade's is %d", r.MsgID, first.MsgID)
			}
			edits = append(edits, r.At)
		}
	}
	if sends != 1 || len(edits) < 3 {
		t.Fatalf("%d messages and %d edits for one cascade; want 1 message, kept current by edits", sends, len(edits))
	}
	for i := 1; i < len(edits)-1; i++ { // the final summary may follow the last edit at once
		if d := edits[i].Sub(edits[i-1]); d < 140*time.Millisecond {
			t.Errorf("edits %v apart, the interval is 150 ms", d)
		}
	}
	checkBudget(t, f.Requests(""), 1.5, Limits{PerChat: 100 * time.Millisecond, Burst: 3})
	last := rs[len(rs)-1].Text
	for _, want := range []string{"<b>$4.2M</b>", "liquidations: 33", "bitmex $3M (30)", "peak $4.2M within 1 min", "<i>Over at "} {
		if !strings.Contains(last, want) {
			t.Errorf("final summary lacks %q:\n%s", want, last)
		}
	}
}

func waitCascade(t *testing.T, f *fake, n int) []telegramtest.Request {
	t.Helper()
	waitFor(t, 5*time.Second, "the cascade message", func() bool { return len(cascadeRequests(f)) >= n })
	return cascadeRequests(f)
}

// TestCascadeResumesAfterRestart: after a restart, a cascade still open
// (the engine rebuilt from the log hands it on, Resumed) goes on in the
// message the chat already has, and one that ended while the box was down
// gets a closing line in its message; no new message either way.
func TestCascadeResumesAfterRestart(t *testing.T) {
	f := newFakeAPI(t)
	kv := newMemKV()
	withLog := func(o *Options) { o.AsyncKV = kv }
	h := newCascadeHarness(t, f, kv, withLog)
	const chat = 5
	h.command(owner, chat, "/start")
	h.command(owner, chat, "/cascade BTC 1M 1h")
	h.command(owner, chat, "/cascade ETH 1M 1h")
	var log []event.Event
	for i, sym := range []string{"BTCUSDT", "BTCUSDT", "ETHUSDT", "ETHUSDT"} {
		ev := liqNow(event.Bybit, sym, event.Short, 600_000, uint64(i+1))
		h.eng.Offer(&ev)
		if sym == "BTCUSDT" {
			log = append(log, ev)
		}
	}
	rs := waitCascade(t, f, 2)
	ids := map[string]int{}
	for _, r := range rs {
		if r.Method == "sendMessage" {
			ids[r.Text[strings.Index(r.Text, " · ")+len(" · "):][:3]] = r.MsgID
		}
	}
	if ids["BTC"] == 0 || ids["ETH"] == 0 {
		t.Fatalf("cascade messages sent: %v", ids)
	}
	waitFor(t, time.Second, "the messages kept in the log", func() bool {
		v, _ := kv.Get(bucketCascades, []byte("5"))
		return strings.Count(string(v), "msg_id") == 2
	})
	h.stop()

	// The next run: the log still holds the BTC pile-up (its 1 h window
	// is open), the ETH one is gone from the window (it ended).
	h2 := newCascadeHarness(t, f, kv, withLog)
	before := len(f.requests("sendMessage"))
	if _, err := h2.eng.Seed(func(fn func(*event.Event) error) error {
		for i := range log {
			if err := fn(&log[i]); err != nil {
				return err
			}
		}
		return nil
	}, time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	h2.b.CascadesRestored()
	waitFor(t, 5*time.Second, "both messages edited", func() bool {
		var btc, eth bool
		for _, r := range f.requests("editMessageText") {
			btc = btc || (r.MsgID == ids["BTC"] && strings.Contains(r.Text, "<b>$1.2M</b>") && strings.Contains(r.Text, "Still going"))
			eth = eth || (r.MsgID == ids["ETH"] && strings.Contains(r.Text, "liqbox stopped before it was over"))
		}
		return btc && eth
	})
	time.Sleep(200 * time.Millisecond)
	for _, r := range f.requests("sendMessage")[before:] {
		if strings.Contains(r.Text, "Cascade · ") {
			t.Errorf("a new cascade message after the restart: %s", r.Text)
		}
	}
	// The ETH message is done with: the log keeps only the BTC one.
	waitFor(t, time.Second, "the log to keep one message", func() bool {
		v, _ := kv.Get(bucketCascades, []byte("5"))
		return strings.Count(string(v), "msg_id") == 1
	})
}

// TestCascadeAnalysisDuringTheSend: an analysis that comes while the
// cascade's message is on its way (rendered without it) is edited in once
// the message is out, with no further news to wake the chat.
func TestCascadeAnalysisDuringTheSend(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) { o.CascadeEdit = 50 * time.Millisecond })
	h.command(owner, 5, "/start")
	var once sync.Once
	f.Answer(func(r telegramtest.Request) (int, string, bool) {
		if r.Method == "sendMessage" && strings.Contains(r.Text, "Cascade · ") {
			once.Do(func() {
				h.b.CascadeAnalysis(5, 1, event.Analysis{Risk: event.RiskHigh, Summary: "Flush under way.", Source: "llm", Model: "m", Lang: "en"})
			})
		}
		return 0, "", false
	})
	snap := cascade.Snapshot{ID: 1, Owner: 5, Rule: mustRule(t, "BTC:1M:5m"), State: cascade.Open, Version: 1,
		StartNs: time.Now().UnixNano(), FiredNs: time.Now().UnixNano(), LastNs: time.Now().UnixNano(), Total: cascade.Tally{Cents: 1e8, N: 1}}
	h.b.CascadeOpened(&snap)
	waitFor(t, 3*time.Second, "the analysis edited in", func() bool {
		for _, r := range f.requests("editMessageText") {
			if strings.Contains(r.Text, "Flush under way.") {
				return true
			}
		}
		return false
	})
}
