package telegram

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

func TestCommands(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), nil)
	const chat = 7
	cases := []struct{ cmd, want string }{
		{"/start", "Subscribed"},
		{"/help", "/setthreshold 250k"},
		{"/setthreshold 250k", "$250K"},
		{"/setthreshold 250000", "$250K"},
		{"/setthreshold 1.5m", "$1.5M"},
		{"/setthreshold $2M", "$2M"},
		{"/setthreshold 0", "Usage: /setthreshold"},
		{"/setthreshold -5k", "Usage: /setthreshold"},
		{"/setthreshold NaN", "Usage: /setthreshold"},
		{"/setthreshold Inf", "Usage: /setthreshold"},
		{"/setthreshold 1e400", "Usage: /setthreshold"},
		{"/setthreshold 999b", "Usage: /setthreshold"},
		{"/setthreshold lots", "Usage: /setthreshold"},
		{"/setthreshold", "Usage: /setthreshold"},
		{"/symbols", "Symbols: all"},
		{"/symbols btcusdt ETH", "Symbols: BTCUSDT, ETH"},
		{"/symbols", "Symbols: BTCUSDT, ETH"},
		{"/symbols <b>", "Usage: /symbols"},
		{"/symbols all", "Symbols: all"},
		{"/side long", "Sides: long"},
		{"/side sideways", "Usage: /side"},
		{"/side both", "Sides: long, short"},
		{"/venues", "Venues: all"},
		{"/venues bybit binance-usdm", "Venues: binance-usdm, bybit"},
		{"/venues nasdaq", "Usage: /venues"},
		{"/venues all", "Venues: all"},
		{"/mute BTCUSDT 1h", "BTCUSDT muted until"},
		{"/mute BTCUSDT forever", "Usage: /mute"},
		{"/mute", "Usage: /mute"},
		{"/mutes", "BTCUSDT →"},
		{"/unmute BTCUSDT", "BTCUSDT unmuted"},
		{"/unmute BTCUSDT", "was not muted"},
		{"/mutes", "No mutes"},
		{"/stats", "not available"},
		{"/stats 3y", "Usage: /stats"},
		{"/top", "not available"},
		{"/status", "not available"},
		{"/cost", "not available"},
		{"/frobnicate", "Unknown command"},
		{"/lang xx", "Usage: /lang en|vi"},
		{"/lang vi", "Tiếng Việt"},
		{"/setthreshold nope", "Cách dùng"},
		{"/lang en", "English"},
		{"/stop", "Unsubscribed"},
	}
	for _, c := range cases {
		got := h.command(owner, chat, c.cmd)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: reply %q, want it to contain %q", c.cmd, got, c.want)
		}
	}
	// Settings persisted: a fresh Bot over the same KV sees them.
	v, _ := h.kv.Get(bucketChats, []byte("7"))
	if !strings.Contains(string(v), `"min_usd":2000000`) || !strings.Contains(string(v), `"subscribed":false`) {
		t.Errorf("persisted settings = %s", v)
	}
}

func TestUnauthorized(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), nil)
	const stranger = 666
	if got := h.command(stranger, 9, "/start"); got != "Not allowed." {
		t.Fatalf("private: %q", got)
	}
	// The second attempt gets nothing: one short refusal only.
	f.say(stranger, 9, "/setthreshold 1k")
	if got := h.command(owner, 10, "/help"); !strings.Contains(got, "liqbox") {
		t.Fatalf("owner's /help: %q", got)
	}
	for _, r := range f.requests("sendMessage") {
		if r.Chat == 9 && r.Text != "Not allowed." {
			t.Errorf("stranger got %q", r.Text)
		}
	}
	if n := countChat(f.requests("sendMessage"), 9); n != 1 {
		t.Errorf("stranger got %d messages, want 1", n)
	}
	// In a group a stranger cannot change settings, the owner can.
	const group = -100
	if got := h.command(owner, group, "/start"); !strings.Contains(got, "Subscribed") {
		t.Fatalf("group /start by owner: %q", got)
	}
	if got := h.command(667, group, "/stop"); got != "Not allowed." {
		t.Fatalf("group /stop by stranger: %q", got)
	}
	if !h.b.known(group).cfg.Load().Subscribed {
		t.Error("stranger unsubscribed the group")
	}
}

func countChat(rs []telegramtest.Request, chat int64) int {
	n := 0
	for _, r := range rs {
		if r.Chat == chat {
			n++
		}
	}
	return n
}

func TestAlertAndMuteButton(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) { o.Chats = []int64{5} })
	ev := testEvent("BTCUSDT", event.Long, 1_250_000)
	ev.Seq = 11
	h.b.Offer(&ev)
	r := f.waitN("sendMessage", 1)[0]
	for _, want := range []string{"LONG liquidated", "binance-usdm", "<b>BTCUSDT</b>", "$1.25M", "65000", "UTC", "on-box"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("alert %q lacks %q", r.Text, want)
		}
	}
	if r.Params["parse_mode"] != "HTML" {
		t.Errorf("parse_mode = %v", r.Params["parse_mode"])
	}
	kb := r.Params["reply_markup"].(map[string]any)["inline_keyboard"].([]any)[0].([]any)
	mute := kb[0].(map[string]any)
	chart := kb[1].(map[string]any)
	if mute["text"] != "Mute BTCUSDT 1h" || mute["callback_data"] != "mute:BTCUSDT:1h" {
		t.Errorf("mute button = %v", mute)
	}
	if chart["url"] != "https://www.binance.com/en/futures/BTCUSDT" {
		t.Errorf("chart button = %v", chart)
	}
	f.press(owner, 5, 1001, "mute:BTCUSDT:1h")
	ans := f.waitN("answerCallbackQuery", 1)[0]
	if ans.Params["callback_query_id"] != "cb1001" || !strings.Contains(ans.Params["text"].(string), "BTCUSDT muted") {
		t.Errorf("answer = %v", ans.Params)
	}
	if v, _ := h.kv.Get(bucketChats, []byte("5")); !strings.Contains(string(v), `"BTCUSDT":`) {
		t.Errorf("mute not persisted: %s", v)
	}
	// A muted symbol is not alerted; another is, and base-asset matching
	// mutes no more than it should.
	ev2 := testEvent("BTCUSDT", event.Short, 2e6)
	h.b.Offer(&ev2)
	ev3 := testEvent("BTCDOMUSDT", event.Short, 2e6)
	h.b.Offer(&ev3)
	rs := f.waitN("sendMessage", 2)
	time.Sleep(50 * time.Millisecond)
	rs = f.requests("sendMessage")
	if len(rs) != 2 || !strings.Contains(rs[1].Text, "BTCDOMUSDT") {
		t.Fatalf("after mute: %d messages, last %q", len(rs), rs[len(rs)-1].Text)
	}
	// A stranger's press is refused and changes nothing.
	f.press(999, 5, 1001, "mute:ETHUSDT:1h")
	ans = f.waitN("answerCallbackQuery", 2)[1]
	if ans.Params["text"] != "Not allowed." {
		t.Errorf("stranger's press answered %v", ans.Params["text"])
	}
	// The analysis edits the alert in place, escaped and marked.
	h.b.Annotate(event.Analysis{Seq: 11, Risk: event.RiskHigh, Summary: "<script>&", Source: "rules"})
	ed := f.waitN("editMessageText", 1)[0]
	if !strings.Contains(ed.Text, "&lt;script&gt;&amp;") || !strings.Contains(ed.Text, "rules") || !strings.Contains(ed.Text, "risk HIGH") {
		t.Errorf("analysis edit = %q", ed.Text)
	}
	if ed.Params["reply_markup"] == nil {
		t.Error("edit dropped the buttons")
	}
}

func TestAnnotateFallsBackToReply(t *testing.T) {
	f := newFakeAPI(t)
	f.Answer(func(r telegramtest.Request) (int, string, bool) {
		if r.Method == "editMessageText" {
			return 400, `{"ok":false,"error_code":400,"description":"Bad Request: message can't be edited"}`, true
		}
		return 0, "", false
	})
	h := newHarness(t, f, newMemKV(), func(o *Options) { o.Chats = []int64{5} })
	ev := testEvent("ETHUSDT", event.Short, 500_000)
	ev.Seq = 3
	h.b.Offer(&ev)
	f.waitN("sendMessage", 1)
	h.b.Annotate(event.Analysis{Seq: 3, Risk: event.RiskLow, Summary: "fine", Source: "llm", Model: "deepseek-v3.2"})
	rs := f.waitN("sendMessage", 2)
	if rp, _ := rs[1].Params["reply_parameters"].(map[string]any); rp == nil || !strings.Contains(rs[1].Text, "deepseek-v3.2") {
		t.Errorf("fallback reply = %v", rs[1].Params)
	}
}

func TestRetryAfter5xxAnd403(t *testing.T) {
	f := newFakeAPI(t)
	var calls atomic.Int32
	f.Answer(func(r telegramtest.Request) (int, string, bool) {
		if r.Method != "sendMessage" {
			return 0, "", false
		}
		switch calls.Add(1) {
		case 1:
			return 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`, true
		case 2:
			return 502, `bad gateway`, true
		}
		if r.Chat == 8 {
			return 403, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`, true
		}
		return 0, "", false
	})
	h := newHarness(t, f, newMemKV(), func(o *Options) { o.Chats = []int64{5} })
	ev := testEvent("SOLUSDT", event.Long, 300_000)
	start := time.Now()
	h.b.Offer(&ev)
	rs := f.waitN("sendMessage", 3)
	if gap := rs[1].At.Sub(rs[0].At); gap < 950*time.Millisecond {
		t.Errorf("retried %v after a 429 with retry_after 1", gap)
	}
	if gap := rs[2].At.Sub(rs[1].At); gap < 400*time.Millisecond {
		t.Errorf("retried %v after a 502: no backoff", gap)
	}
	if rs[2].Chat != 5 || time.Since(start) > 5*time.Second {
		t.Errorf("alert not delivered after 429 and 502")
	}
	// 403 unsubscribes the chat.
	h.command(owner, 8, "/start") // reply gets 403 too: that unsubscribes
	deadline := time.Now().Add(3 * time.Second)
	for h.b.known(8).cfg.Load().Subscribed {
		if time.Now().After(deadline) {
			t.Fatal("403 did not unsubscribe the chat")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var digestCount = regexp.MustCompile(`Cascade: (\d+) liquidations`)

func TestCascadeDigest(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Chats = []int64{5}
		o.Limits = DefaultLimits
		o.CascadeIdle = time.Minute
	})
	const total = 500
	var want float64
	tick := time.NewTicker(2 * time.Millisecond) // 500 a second
	for i := 0; i < total; i++ {
		<-tick.C
		side := event.Long
		if i%3 == 0 {
			side = event.Short
		}
		ev := testEvent("BTCUSDT", side, float64(100_000+i*1000))
		ev.Seq = uint64(i + 1)
		want += ev.Notional
		h.b.Offer(&ev)
	}
	tick.Stop()
	// Wait until everything is delivered: alerts sent alone plus the last
	// digest count add up to the burst.
	deadline := time.Now().Add(6 * time.Second)
	for {
		alone, digested, _ := tally(f)
		if alone+digested == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d alone + %d in digests, want %d", alone, digested, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	alone, digested, digests := tally(f)
	if digests != 1 || digested < total-5 {
		t.Errorf("%d digests holding %d alerts (%d alone): want one cascade digest", digests, digested, alone)
	}
	// Telegram's per-chat limit as the budget spends it: a burst, then one
	// message per PerChat.
	checkBudget(t, f.requests(""), 5, DefaultLimits)
	// The digest's USD total matches the alerts folded into it.
	last := lastDigestText(f)
	var sum float64
	for i := total - digested; i < total; i++ {
		sum += float64(100_000 + i*1000)
	}
	if !strings.Contains(last, usd(sum, "")) {
		t.Errorf("digest %q does not carry the total %s", last, usd(sum, ""))
	}
	if !strings.Contains(last, "Largest") || !strings.Contains(last, "$599K") {
		t.Errorf("digest lacks the largest: %q", last)
	}
}

// tally counts alerts sent alone, alerts in the latest text of each
// digest, and digests.
func tally(f *fake) (alone, digested, digests int) {
	latest := map[int]int{} // digest message id → count
	for _, r := range f.requests("") {
		switch r.Method {
		case "sendMessage":
			if m := digestCount.FindStringSubmatch(r.Text); m != nil {
				n, _ := strconv.Atoi(m[1])
				latest[r.MsgID] = n
			} else {
				alone++
			}
		case "editMessageText":
			if m := digestCount.FindStringSubmatch(r.Text); m != nil {
				n, _ := strconv.Atoi(m[1])
				latest[int(r.Params["message_id"].(float64))] = n
			}
		}
	}
	for _, n := range latest {
		digested += n
	}
	return alone, digested, len(latest)
}

func lastDigestText(f *fake) string {
	rs := f.requests("")
	for i := len(rs) - 1; i >= 0; i-- {
		if digestCount.MatchString(rs[i].Text) {
			return rs[i].Text
		}
	}
	return ""
}

type ackFunc func(string, uint64)

func (f ackFunc) Ack(s string, seq uint64) { f(s, seq) }

func TestOffsetPersisted(t *testing.T) {
	kv := newMemKV()
	f := newFakeAPI(t)
	h := newHarness(t, f, kv, nil)
	h.command(owner, 3, "/help")
	// The offset is saved once the update is handled, which may be just
	// after the reply went out (under emulation, noticeably after).
	var v []byte
	for deadline := time.Now().Add(5 * time.Second); len(v) != 8 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		v, _ = kv.Get(bucketState, keyOffset)
	}
	if len(v) != 8 {
		t.Fatalf("offset not saved")
	}
	// The fake ignores offset and would send the update again: the bot
	// must skip it. Restart and check the first poll asks for the saved
	// offset.
	f2 := newFakeAPI(t)
	newHarness(t, f2, kv, nil)
	r := f2.waitN("getUpdates", 1)[0]
	if got := int(r.Params["offset"].(float64)); got != 102 {
		t.Errorf("restarted with offset %d, want 102", got)
	}
}

func TestTokenScrubbed(t *testing.T) {
	err := scrub(errors.New(`Post "http://127.0.0.1:1/bot`+testToken+`/sendMessage": refused`), testToken)
	if strings.Contains(err.Error(), testToken) || errors.Unwrap(err) != nil {
		t.Errorf("scrubbed error %q leaks", err)
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{950: "$950", 12_500: "$12.5K", 1_250_000: "$1.25M", 2.1e9: "$2.1B", 1e6: "$1M"} {
		if got := usd(v, "?"); got != want {
			t.Errorf("usd(%v) = %s, want %s", v, got, want)
		}
	}
	ev := testEvent("A<&>B", event.Short, math.NaN())
	ev.Basis = event.BasisUnknown
	got := string(appendAlertHTML(nil, &ev, lang("vi"), &alertFacts{onBox: time.Millisecond}))
	if !strings.Contains(got, "A&lt;&amp;&gt;B") || !strings.Contains(got, "không rõ") || !strings.Contains(got, "SHORT bị thanh lý") {
		t.Errorf("alert = %q", got)
	}
	if len(got) > MaxText {
		t.Errorf("alert too long")
	}
	if s := escape("a\xffb"); s != "a\uFFFDb" {
		t.Errorf("escape invalid UTF-8 = %q", s)
	}
}

func TestSymbolMatch(t *testing.T) {
	cases := []struct {
		v      event.Venue
		sym, f string
		want   bool
	}{
		{event.BinanceUSDM, "BTCUSDT", "BTCUSDT", true}, {event.BinanceUSDM, "BTCUSDT", "BTC", true},
		{event.OKX, "BTC-USDT-SWAP", "BTC", true}, {event.BinanceCOINM, "BTCUSD_PERP", "BTC", true},
		{event.BitMEX, "XBTUSD", "BTC", true}, {event.BitMEX, "XBTZ25", "BTC", true}, {event.BitMEX, "XBTUSD", "XBT", true},
		{event.BinanceUSDM, "BTCDOMUSDT", "BTC", false}, {event.BinanceUSDM, "ETHFIUSDT", "ETH", false},
		{event.BinanceUSDM, "ETHUSDT", "BTC", false}, {event.Bybit, "1000PEPEUSDT", "PEPE", true},
		{event.OKX, "PEPE-USDT-SWAP", "1000PEPE", true}, {event.BinanceUSDM, "BTCUSDT", "BTCUSDC", false},
		// The venues added later: Deribit, Kraken Futures, Bitfinex.
		{event.Deribit, "BTC-PERPETUAL", "BTC", true}, {event.Deribit, "ETH_USDC-PERPETUAL", "ETH", true},
		{event.KrakenFutures, "PF_XBTUSD", "BTC", true}, {event.KrakenFutures, "PI_ETHUSD", "ETH", true},
		{event.KrakenFutures, "PF_ETHFIUSD", "ETH", false}, {event.Bitfinex, "BTCF0:USTF0", "BTC", true},
		{event.Bitfinex, "BTCDOMF0:USTF0", "BTC", false},
	}
	for _, c := range cases {
		ev := event.Event{Venue: c.v, Symbol: event.MakeSymbol(c.sym)}
		m := newMatcher(c.f)
		if got := m.matches(&ev, &lazyAsset{}); got != c.want {
			t.Errorf("%s: %s matches %s = %v", c.v, c.f, c.sym, got)
		}
	}
}

// fakeHistory serves a fixed set of events.
type fakeHistory []event.Event

func (h fakeHistory) Scan(from, to time.Time, fn func(*event.Event) error) error {
	for i := range h {
		if h[i].RecvNs >= from.UnixNano() && h[i].RecvNs < to.UnixNano() {
			if err := fn(&h[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

type fakeStatus struct{}

func (fakeStatus) Status() StatusReport {
	return StatusReport{Venues: []VenueStatus{{Venue: "binance-usdm", Connections: 2, Configured: 2, LastFrame: 120 * time.Millisecond}},
		RingDepth: 3, RingCap: 4096, DiskBytes: 5 << 20, Enrichment: "ok", Version: "v0.1.0", Uptime: time.Hour,
		ClockKnown: true, ClockOffset: 412 * time.Millisecond, ClockWarn: true, ClockBound: 250 * time.Millisecond,
		Bus: fakeLocalized{"en": "Bus: connected to nats://h:4222 as <tokyo-1>"}}
}

// fakeLocalized is a text per language.
type fakeLocalized map[string]string

func (f fakeLocalized) Text(lang string) string { return f[lang] }

type fakeCost struct{}

func (fakeCost) CostReport(string) string { return "today: $0.12 <model>" }

func TestHistoryCommands(t *testing.T) {
	var hist fakeHistory
	for i := 0; i < 40; i++ {
		ev := testEvent([]string{"BTCUSDT", "ETHUSDT"}[i%2], event.Side(1+i%2), float64(10_000*(i+1)))
		ev.RecvNs = time.Now().Add(-time.Duration(i) * time.Minute).UnixNano()
		ev.TimeMs = ev.RecvNs/1e6 - 5
		hist = append(hist, ev)
	}
	// BTC on BitMEX three hours ago: in the day's top assets, not the hour's.
	old := testEvent("XBTUSD", event.Long, 1e6)
	old.Venue, old.RecvNs = event.BitMEX, time.Now().Add(-3*time.Hour).UnixNano()
	hist = append(hist, old)
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) { o.History = hist; o.Status = fakeStatus{}; o.Cost = fakeCost{} })
	got := h.command(owner, 4, "/stats 1h")
	for _, want := range []string{"Stats, last 1h", "BTCUSDT", "SHORT", "exchange→box", "box→Telegram", "exchange→box: 5.",
		"<b>Top assets, all venues</b>\n<pre>asset             1h        24h\nBTC             ≥$4M       ≥$5M\nETH           ≥$4.2M     ≥$4.2M\n</pre>",
		"≥ includes a sampled venue: a lower bound"} {
		if !strings.Contains(got, want) {
			t.Errorf("/stats lacks %q: %s", want, got)
		}
	}
	if strings.Contains(got, "XBTUSD") {
		t.Errorf("/stats 1h shows a liquidation of three hours ago: %s", got)
	}
	if got := h.command(owner, 4, "/top"); !strings.Contains(got, "1. SHORT <b>ETHUSDT</b> $400K") {
		t.Errorf("/top = %s", got)
	}
	if got := h.command(owner, 4, "/top 1h"); !strings.Contains(got, "$400K") {
		t.Errorf("/top 1h lacks the largest: %s", got)
	}
	if got := h.command(owner, 4, "/status"); !strings.Contains(got, "binance-usdm: 2/2 connections, last frame 120ms ago") || !strings.Contains(got, "5.0 MiB") ||
		!strings.Contains(got, "Clock offset vs exchanges: 412ms, over the 250ms bound") ||
		!strings.Contains(got, "Bus: connected to nats://h:4222 as &lt;tokyo-1&gt;") {
		t.Errorf("/status = %s", got)
	}
	if got := h.command(owner, 4, "/cost"); !strings.Contains(got, "&lt;model&gt;") {
		t.Errorf("/cost = %s", got)
	}
	if got := h.command(owner, 4, "/chart 1h BTC ETH"); !strings.Contains(got, "Usage: /chart") {
		t.Errorf("bad /chart = %s", got)
	}
	f.say(owner, 4, "/chart 1h BTC")
	ph := f.waitN("sendPhoto", 1)[0]
	if ph.Params["photo"] != "<file>" || !strings.Contains(ph.Params["caption"].(string), "BTC") {
		t.Errorf("sendPhoto = %v", ph.Params)
	}
}

func TestChartPNG(t *testing.T) {
	s := &chartSeries{from: time.Unix(0, 0), step: time.Minute, long: make([]float64, 60), short: make([]float64, 60)}
	for i := range s.long {
		s.long[i] = float64(i * 1000)
		s.short[i] = float64((60 - i) * 500)
	}
	data, err := drawChart(s, "Liquidated USD, last 1h, all symbols")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != 900 {
		t.Fatalf("chart: %v", err)
	}
	// Both colours are present.
	var long, short bool
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r, g, _, _ := img.At(x, y).RGBA()
			long = long || (r>>8 == 0xe0 && g>>8 == 0x4f)
			short = short || (r>>8 == 0x2e && g>>8 == 0xbd)
		}
	}
	if !long || !short {
		t.Errorf("chart lacks a colour: long %v short %v", long, short)
	}
}

func BenchmarkOffer(b *testing.B) {
	bot, err := New(Options{Token: testToken, APIURL: "http://127.0.0.1:1", KV: newMemKV(), QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	for id := int64(1); id <= 4; id++ {
		c := bot.getChat(id)
		if err := bot.update(c, func(s *settings) {
			s.Subscribed = true
			s.MinUSD = 50_000
			s.Symbols = []string{"ETH", "BTC"}
			s.Mutes["SOLUSDT"] = time.Now().Add(time.Hour).Unix()
		}); err != nil {
			b.Fatal(err)
		}
	}
	ev := testEvent("BTCUSDT", event.Long, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i&0xfff == 0 {
			for _, c := range *bot.active.Load() {
				c.mu.Lock()
				c.head, c.n = 0, 0
				c.mu.Unlock()
			}
		}
		bot.Offer(&ev)
	}
}

// TestOverflowIsCountedInTheDigest: a cascade faster than the chat's queue
// can hold still ends with a digest whose count and total equal the alerts.
func TestOverflowIsCountedInTheDigest(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Chats = []int64{5}
		o.QueueSize = 8
		o.Limits.PerChat = 200 * time.Millisecond
		o.CascadeIdle = time.Minute
	})
	const total = 300
	var want float64
	for i := 0; i < total; i++ {
		ev := testEvent("ETHUSDT", event.Long, float64(200_000+i*1000))
		ev.Seq = uint64(i + 1)
		want += ev.Notional
		h.b.Offer(&ev) // far faster than one send per 200 ms: the queue of 8 overflows
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		alone, digested, _ := tally(f)
		if alone+digested == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d alone + %d in digests, want %d", alone, digested, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	alone, _, _ := tally(f)
	var digestSum float64
	for i := alone; i < total; i++ {
		digestSum += float64(200_000 + i*1000)
	}
	if last := lastDigestText(f); !strings.Contains(last, usd(digestSum, "")) || !strings.Contains(last, "$499K") {
		t.Errorf("digest %q lacks the total %s or the largest $499K", last, usd(digestSum, ""))
	}
	if n := h.b.m.folded.Get(); n == 0 {
		t.Error("no alert went through the overflow: the test did not overflow the queue")
	}
}

func BenchmarkDigestFold(b *testing.B) {
	var d digest
	ev := testEvent("BTCUSDT", event.Long, 1e6)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev.Notional = float64(i % 1000)
		d.fold(&ev)
	}
}
