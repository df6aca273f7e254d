package telegram

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// TestCommandsForAnotherBot: in a group, a command addressed to another
// bot (/stop@OtherBot) is not ours, even from an allowed user; one
// addressed to this bot (any case) is.
func TestCommandsForAnotherBot(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), nil)
	waitFor(t, 5*time.Second, "getMe", func() bool { return h.b.username.Load() != nil })
	const group = -100
	if got := h.command(owner, group, "/start"); !strings.Contains(got, "Subscribed") {
		t.Fatalf("/start = %q", got)
	}
	f.say(owner, group, "/stop@OtherBot")
	f.say(owner, group, "/setthreshold@OtherBot 1")
	if got := h.command(owner, group, "/help"); !strings.Contains(got, "/setthreshold 250k") {
		t.Fatalf("the next reply is %q, not /help's: a command for another bot was answered", got)
	}
	s := h.b.known(group).cfg.Load()
	if !s.Subscribed || s.MinUSD != h.b.o.MinUSD {
		t.Errorf("commands for another bot changed the settings: subscribed %v, threshold %v", s.Subscribed, s.MinUSD)
	}
	if got := h.command(owner, group, "/setthreshold@"+strings.ToUpper(telegramtest.Username)+" 500k"); !strings.Contains(got, "$500K") {
		t.Errorf("/setthreshold@<this bot> = %q", got)
	}
	if n := h.b.m.foreignCmds.Get(); n != 2 {
		t.Errorf("%d commands counted as another bot's, want 2", n)
	}
}

// TestUsernameUnknown: while getMe fails (telegram-test-api answers
// telego's getMe with HTTP 500), suffixed commands are ignored, plain ones
// work, and getMe is asked again until it answers.
func TestUsernameUnknown(t *testing.T) {
	f := newFakeAPI(t)
	var fail = true
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	f.Answer(func(r telegramtest.Request) (int, string, bool) {
		<-mu
		defer func() { mu <- struct{}{} }()
		if r.Method == "getMe" && fail {
			return 500, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`, true
		}
		return 0, "", false
	})
	h := newHarness(t, f, newMemKV(), nil)
	f.waitN("getMe", 1)
	f.say(owner, -5, "/help@"+telegramtest.Username)
	if got := h.command(owner, -5, "/mutes"); !strings.Contains(got, "No mutes") {
		t.Fatalf("the next reply is %q: a suffixed command ran with the username unknown", got)
	}
	<-mu
	fail = false
	mu <- struct{}{}
	waitFor(t, 5*time.Second, "getMe to be retried", func() bool { return h.b.username.Load() != nil })
	if got := h.command(owner, -5, "/help@"+telegramtest.Username); !strings.Contains(got, "/setthreshold 250k") {
		t.Errorf("/help@<this bot> once known = %q", got)
	}
}

// TestOutsiderFlood: 60 outsiders writing to a group get one refusal in
// it; 60 writing privately get a few; the owner's command in the middle of
// it is answered within a second, and an alert goes at once.
func TestOutsiderFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 5 s, the same on every architecture: the full suite runs it")
	}
	f := newFakeAPI(t)
	const group = -100
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Chats = []int64{group}
		o.Limits = DefaultLimits
		o.Status = fakeStatus{}
	})
	for u := int64(1000); u < 1060; u++ {
		f.say(u, group, "/start")
		f.say(u+1000, u+1000, "/start") // each in their own private chat
	}
	asked := time.Now()
	f.say(owner, group, "/status")
	ev := testEvent("BTCUSDT", event.Long, 2e6)
	ev.Seq = 1
	h.b.Offer(&ev)
	offered := time.Now()
	var reply, alert telegramtest.Request
	waitFor(t, 5*time.Second, "the owner's reply and the alert", func() bool {
		for _, r := range f.requests("sendMessage") {
			if r.Chat == group && strings.Contains(r.Text, "Status") {
				reply = r
			}
			if r.Chat == group && strings.Contains(r.Text, "BTCUSDT") {
				alert = r
			}
		}
		return !reply.At.IsZero() && !alert.At.IsZero()
	})
	// At most one slot behind the alert, which may take the budget the
	// reply needs (and this machine's scheduling on top).
	if d := reply.At.Sub(asked); d > 1500*time.Millisecond {
		t.Errorf("the owner's /status was answered after %v", d)
	}
	// No wait for the budget, and well under a slot (the rest is this
	// machine's scheduling under -race).
	if d := alert.At.Sub(offered); strings.Contains(alert.Text, "⏳") || d > 500*time.Millisecond {
		t.Errorf("the alert waited %v: %q", d, alert.Text)
	}
	// A refusal waits until its chat's budget is idle again: up to two
	// slots after the alert and the reply.
	var inGroup, private int
	count := func() bool {
		inGroup, private = 0, 0
		for _, r := range f.requests("sendMessage") {
			if r.Text != "Not allowed." {
				continue
			}
			if r.Chat == group {
				inGroup++
			} else {
				private++
			}
		}
		return inGroup > 0 && private > 0
	}
	waitFor(t, 5*time.Second, "the refusals", count)
	time.Sleep(2500 * time.Millisecond)
	count()
	if inGroup != 1 {
		t.Errorf("%d refusals in the group, want 1", inGroup)
	}
	if private == 0 || private > refusalBurst {
		t.Errorf("%d refusals in private chats, want 1 to %d", private, refusalBurst)
	}
	if !h.b.known(group).cfg.Load().Subscribed || h.b.m.refusals.Get() != 120 {
		t.Errorf("outsiders changed the group or were not all counted (%d)", h.b.m.refusals.Get())
	}
}

// TestI18nWalk sends every kind of message the bot writes to a chat in
// each language and checks that the Vietnamese ones hold no English word
// of the English templates, and the English ones no Vietnamese.
func TestI18nWalk(t *testing.T) {
	enOnly := englishOnlyWords()
	if len(enOnly) < 100 {
		t.Fatalf("only %d English-only words found: the check would be weak", len(enOnly))
	}
	for _, code := range []string{"en", "vi"} {
		t.Run(code, func(t *testing.T) {
			texts := walkMessages(t, code)
			for _, s := range texts {
				switch code {
				case "vi":
					// Venue, stream and symbol names (binance-usdm,
					// liquidation-orders, BTC-USDT-SWAP) are data, not text.
					for _, w := range words(identRE.ReplaceAllString(stripHTML(s), " ")) {
						if enOnly[strings.ToLower(w)] {
							t.Errorf("English %q in a Vietnamese message: %q", w, s)
							break
						}
					}
				case "en":
					for _, r := range s {
						if r > unicode.MaxASCII && unicode.Is(unicode.Latin, r) {
							t.Errorf("Vietnamese in an English message: %q", s)
							break
						}
					}
				}
			}
		})
	}
}

var wordRE = regexp.MustCompile(`\pL{4,}`)

func words(s string) []string { return wordRE.FindAllString(s, -1) }

var tagRE = regexp.MustCompile(`<[^>]*>`)

// identRE matches names joined by - _ or :, such as liquidation-orders.
var identRE = regexp.MustCompile(`[\pL\d]+(?:[-_:][\pL\d]+)+`)

func stripHTML(s string) string { return tagRE.ReplaceAllString(s, " ") }

// englishOnlyWords are the words of the English texts that no Vietnamese
// text uses (commands, symbols and trading terms such as LONG are in both).
func englishOnlyWords() map[string]bool {
	var en, vi []string
	collect(reflect.ValueOf(*lang("en")), &en)
	collect(reflect.ValueOf(*lang("vi")), &vi)
	inVi := map[string]bool{}
	for _, s := range vi {
		for _, w := range words(s) {
			inVi[strings.ToLower(w)] = true
		}
	}
	out := map[string]bool{}
	for _, s := range en {
		for _, w := range words(stripHTML(s)) {
			if w = strings.ToLower(w); !inVi[w] {
				out[w] = true
			}
		}
	}
	return out
}

// collect appends every string in v (fields, arrays, map values).
func collect(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			collect(v.Field(i), out)
		}
	case reflect.Array, reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			collect(v.Index(i), out)
		}
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			collect(v.Elem(), out)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			collect(v.MapIndex(k), out)
		}
	}
}

type langCost struct{}

func (langCost) CostReport(lang string) string {
	if lang == "vi" {
		return "hôm nay: $0.12"
	}
	return "today: $0.12"
}

// enrichLine is a status line written in each language, as
// enrich.Status.Text does.
type enrichLine struct{}

func (enrichLine) Text(lang string) string {
	if lang == "vi" {
		return "phân tích AI: hoạt động; mô hình deepseek-v3.2"
	}
	return "enrich: ok; model deepseek-v3.2"
}

type langStatus struct{}

func (langStatus) Status() StatusReport {
	r := fakeStatus{}.Status()
	r.Venues = append(r.Venues, VenueStatus{Venue: "okx", LastFrame: -1})
	r.DiskLimit = 2 << 30
	r.Enrichment = "enrich: ok (English only)"
	r.Enrich = enrichLine{}
	r.Blind = []GapStatus{{Venue: "okx", Stream: "liquidation-orders", Cause: "stale", Start: time.Now().Add(-time.Minute), For: time.Minute}}
	r.Decode = []DecodeStatus{{Venue: "okx", Stream: "liquidation-orders", Errors: 12, Frames: 118, Ratio: 12.0 / 118}}
	r.Sources = []SourceStatus{{Venue: "binance-usdm", DirectFirst: 97, RelayFirst: 3, DirectLeadP50: 41 * time.Millisecond,
		DirectLeadP99: 180 * time.Millisecond, RelayLeadP50: 4 * time.Millisecond, RelayLeadP99: -1, Side: 1, USD: 2}}
	return r
}

// walkMessages runs a bot whose chat speaks code through every command,
// an alert, its analysis (each source and fallback reason), a combined
// reply, a cascade digest, the buttons and a refusal, and returns every
// text the chat was sent (buttons included), plus the renderings that need
// a restart or a wait (a redelivered alert, a closed digest).
func walkMessages(t *testing.T, code string) []string {
	var hist fakeHistory
	for i := 0; i < 10; i++ {
		ev := testEvent("BTCUSDT", event.Side(1+i%2), float64(100_000*(i+1)))
		ev.RecvNs = time.Now().Add(-time.Duration(i) * time.Minute).UnixNano()
		hist = append(hist, ev)
	}
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Lang = code
		o.History = hist
		o.Status = langStatus{}
		o.Cost = langCost{}
		o.DigestMin = 3
		o.CascadeIdle = 50 * time.Millisecond
		o.CascadeRules = []cascade.Rule{mustRule(t, "BTC:10M:5m")}
	})
	const chat = 9
	for _, c := range []string{"/start", "/help", "/setthreshold 100k", "/setthreshold x", "/symbols", "/symbols BTC ETH",
		"/symbols <b>", "/symbols all", "/side long", "/side both", "/side x", "/venues", "/venues bybit", "/venues x", "/venues all",
		"/mute BTCUSDT 1h", "/mute x y z", "/mutes", "/unmute BTCUSDT", "/unmute BTCUSDT", "/mutes", "/stats", "/stats 1h", "/stats 9y",
		"/top", "/top 9y", "/chart 1h BTC ETH", "/status", "/cost", "/lang", "/frobnicate",
		"/cascades", "/cascade eth 1m 1h long", "/cascade all 50M 15m short", "/cascade all 50M 15m", "/cascade BTC 10M 5m",
		"/cascade x", "/cascade off 9", "/cascades", "/cascade off 1", "/cascade SOL 1M 90s", "/cascade ADA 1M 2h", "/cascade XRP 1M 3h",
		"/cascade DOGE 1M 4h", "/stop", "/cascades", "/cascade LINK 1M 5h", "/start"} {
		h.command(owner, chat, c)
	}
	f.say(owner, chat, "/chart 1h BTC")
	f.waitN("sendPhoto", 1)
	n := len(f.requests("sendMessage"))
	h.f.say(666, chat, "/start") // an outsider
	f.waitN("sendMessage", n+1)
	// An alert and the model's analysis; an alert and a rules read for
	// every reason; a reply carrying several; a cascade; the buttons.
	seq := uint64(0)
	offer := func(sym string, side event.Side) uint64 {
		seq++
		ev := testEvent(sym, side, 1e6)
		ev.Seq = seq
		h.b.Offer(&ev)
		return seq
	}
	summary := map[string]string{"en": "Forced selling.", "vi": "Bán tháo cưỡng bức."}[code]
	// The rules read comes in both languages, the model's in its own.
	rulesEN := event.Text{Lang: "en", Summary: "Forced selling.", Recommendation: "Cut leverage."}
	rulesVI := event.Text{Lang: "vi", Summary: "Bán tháo cưỡng bức.", Recommendation: "Giảm đòn bẩy."}
	s1 := offer("BTCUSDT", event.Long)
	f.waitN("sendMessage", n+2)
	h.b.Annotate(event.Analysis{Seq: s1, Risk: event.RiskHigh, Summary: summary, Recommendation: summary, Source: "llm", Model: "m", Lang: code})
	f.waitN("editMessageText", 1)
	// A rules read for every fallback reason, and one without.
	reasons := []string{""}
	for r := range lang(code).Reasons {
		reasons = append(reasons, r)
	}
	for i, reason := range reasons {
		s := offer("ETHUSDT", event.Short)
		f.waitN("sendMessage", n+3+i)
		h.b.Annotate(event.Analysis{Seq: s, Risk: event.Risk(i % 4), Summary: rulesEN.Summary, Recommendation: rulesEN.Recommendation,
			Source: "rules", Reason: reason, Lang: "en", Alt: []event.Text{rulesVI}})
		f.waitN("editMessageText", 2+i)
	}
	// A reply that carries several analyses.
	c := h.b.known(chat)
	var rs []ready
	for i := 0; i < 2; i++ {
		ev := testEvent("ADAUSDT", event.Side(i), 1e6)
		rs = append(rs, ready{a: event.Analysis{Seq: 99, Summary: summary, Source: "rules", Lang: code}, sa: &sentAlert{msgID: 1001, ev: ev}})
	}
	(&annRun{b: h.b, c: c}).combined(h.ctx, rs)
	if h.b.m.annCombined.Get() != 1 {
		t.Fatal("the combined reply was not sent")
	}
	for i := 0; i < 20; i++ {
		offer("SOLUSDT", event.Side(i%3))
	}
	waitFor(t, 5*time.Second, "the digest", func() bool { return h.b.m.digests.Get() > 0 })
	f.press(owner, chat, 1001, "mute:BTCUSDT:1h")
	f.press(owner, chat, 1001, "bogus")
	f.press(777, chat, 1001, "mute:BTCUSDT:1h")
	f.waitN("answerCallbackQuery", 3)
	time.Sleep(100 * time.Millisecond)
	h.command(owner, chat, "/lang "+code)

	var out []string
	for _, r := range f.requests("") {
		if r.Method == "getUpdates" || r.Method == "getMe" {
			continue
		}
		if r.Chat != 0 && r.Chat != chat {
			t.Fatalf("a message to chat %d", r.Chat)
		}
		out = append(out, r.Text)
		if s, ok := r.Params["text"].(string); ok && r.Method == "answerCallbackQuery" {
			out = append(out, s)
		}
		var buttons []string
		collect(reflect.ValueOf(r.Params["reply_markup"]), &buttons)
		out = append(out, buttons...)
	}
	tx := lang(code)
	ev := testEvent("XRPUSDT", event.Long, 1e6)
	ev.Basis = event.BasisUnknown
	out = append(out, string(appendAlertHTML(nil, &ev, tx, &alertFacts{replay: afterRestart, late: 2 * time.Minute, onBox: time.Millisecond, wait: time.Second})))
	for _, late := range []time.Duration{5 * time.Second, 3 * time.Hour} {
		out = append(out, string(appendAlertHTML(nil, &ev, tx, &alertFacts{replay: afterRestart, late: late})))
		out = append(out, string(appendAlertHTML(nil, &ev, tx, &alertFacts{replay: fromLog, late: late})))
	}
	var d digest
	ev.Flags |= event.FlagReplay
	d.fold(&ev)
	out = append(out, string(d.appendHTML(nil, tx, false)))
	// A cascade's message in each state, with and without its analysis.
	for _, spec := range []string{"BTC:10M:5m", "all:50M:15m:long", "ETH:1M:1h:short"} {
		snap := cascade.Snapshot{ID: 1, Rule: mustRule(t, spec), State: cascade.Open, StartNs: time.Now().Add(-3 * time.Minute).UnixNano(),
			LastNs: time.Now().UnixNano(), Total: cascade.Tally{Cents: 12e8, N: 40}, Unknown: 2, WindowCents: 11e8, PeakCents: 13e8}
		snap.Venues[event.BinanceUSDM] = cascade.Tally{Cents: 7e8, N: 30}
		snap.Venues[event.Bybit] = cascade.Tally{Cents: 5e8, N: 10}
		snap.Top[0], snap.NTop = testEvent("BTCUSDT", event.Long, 1e6), 1
		for _, st := range []struct {
			state           cascade.State
			closed, removed bool
			resumed         bool
		}{{cascade.Open, false, false, true}, {cascade.Fading, false, false, false}, {cascade.Closed, true, false, false}, {cascade.Closed, true, true, false}} {
			s := snap
			s.State, s.Removed, s.Resumed = st.state, st.removed, st.resumed
			if st.state != cascade.Open {
				s.BelowNs = time.Now().UnixNano()
			}
			m := cascadeMsg{snap: s, closed: st.closed, analysis: &event.Analysis{Risk: event.RiskHigh, Summary: summary, Source: "llm", Model: "m", Lang: code}}
			text, body := appendCascadeHTML(nil, &m, tx, time.Now())
			out = append(out, string(text), string(body)+"\n<i>"+escape(tx.CascadeDown)+"</i>")
		}
	}
	if len(out) < 60 {
		t.Fatalf("only %d texts walked", len(out))
	}
	return out
}

// TestRulesReadSaysWhy: a rules read says why the model was not used, and
// is shown in the chat's language when the analysis has it.
func TestRulesReadSaysWhy(t *testing.T) {
	a := event.Analysis{Risk: event.RiskLow, Summary: "s", Source: "rules", Reason: event.ReasonEmpty, Lang: "en",
		Alt: []event.Text{{Lang: "vi", Summary: "tóm tắt"}}}
	if got := string(appendAnalysisHTML(nil, &a, lang("en"))); !strings.Contains(got, "Analysis (rules, no model): the model answered with nothing</i>") {
		t.Errorf("en: %q", got)
	}
	if got := string(appendAnalysisHTML(nil, &a, lang("vi"))); !strings.Contains(got, "\ntóm tắt") {
		t.Errorf("vi chat shows %q, not the Vietnamese read", got)
	}
	for code := range lang("en").Reasons {
		if _, ok := lang("vi").Reasons[code]; !ok {
			t.Errorf("reason %q has no Vietnamese words", code)
		}
	}
	a.Reason = "<new code>"
	if got := string(appendAnalysisHTML(nil, &a, lang("vi"))); !strings.Contains(got, "không dùng mô hình): &lt;new code&gt;</i>") {
		t.Errorf("an unknown reason is not shown escaped: %q", got)
	}
}
