package telegram

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

func TestLimiterBudget(t *testing.T) {
	l := Limits{PerChat: time.Second, Burst: 3, Reserve: 1, GroupWindow: time.Minute, GroupMax: 20, Global: time.Second / 30}
	t0 := time.Unix(1000, 0)
	t.Run("burst then one per slot", func(t *testing.T) {
		lim := newLimiter(l)
		for i := 0; i < 3; i++ {
			if ok, _ := lim.take(5, classAlert, t0); !ok {
				t.Fatalf("alert %d of the burst refused", i+1)
			}
		}
		ok, at := lim.take(5, classAlert, t0)
		if ok || at.Sub(t0) < time.Second-time.Millisecond || at.Sub(t0) > time.Second+time.Millisecond {
			t.Fatalf("fourth alert: ok %v, retry after %v; want one slot", ok, at.Sub(t0))
		}
		if ok, _ := lim.take(5, classAlert, at); !ok {
			t.Fatal("refused at the time it named")
		}
	})
	t.Run("spare leaves the reserve", func(t *testing.T) {
		lim := newLimiter(l)
		lim.take(5, classSpare, t0) // 3 → 2
		if ok, _ := lim.take(5, classSpare, t0); !ok {
			t.Fatal("second spare message refused with 2 left")
		}
		ok, at := lim.take(5, classSpare, t0) // 1 left = the reserve
		if ok {
			t.Fatal("a spare message took the reserve")
		}
		if at.Sub(t0) < time.Second-time.Millisecond {
			t.Errorf("spare retry after %v, want a slot", at.Sub(t0))
		}
		if ok, _ := lim.take(5, classAlert, t0); !ok {
			t.Fatal("the alert did not find its reserve")
		}
		if n := lim.spare(5, t0.Add(2*time.Second)); n != 1 {
			t.Errorf("spare after 2 s = %d, want 1 (2 tokens, 1 reserved)", n)
		}
	})
	t.Run("group window", func(t *testing.T) {
		g := l
		g.GroupMax = 4
		lim := newLimiter(g)
		now := t0
		for i := 0; i < 3; i++ { // 3 of 4: the 4th is the reserve
			if ok, _ := lim.take(-7, classAlert, now); !ok {
				t.Fatalf("group alert %d refused", i+1)
			}
			now = now.Add(2 * time.Second)
		}
		if ok, _ := lim.take(-7, classSpare, now); ok {
			t.Error("a spare message took the group's reserve")
		}
		if ok, _ := lim.take(-7, classAlert, now); !ok {
			t.Fatal("the alert did not find the group's reserve")
		}
		ok, at := lim.take(-7, classAlert, now)
		if ok || !at.Equal(t0.Add(time.Minute)) {
			t.Errorf("fifth in the window: ok %v, at +%v; want +1m", ok, at.Sub(t0))
		}
	})
	t.Run("global", func(t *testing.T) {
		lim := newLimiter(l)
		var n int
		for chat := int64(1); chat <= 40; chat++ {
			if ok, _ := lim.take(chat, classAlert, t0); ok {
				n++
			}
		}
		if n != 30 {
			t.Errorf("%d alerts in one second to 40 chats, want 30", n)
		}
	})
	t.Run("429", func(t *testing.T) {
		lim := newLimiter(l)
		lim.penalize(5, t0.Add(3*time.Second), true)
		if ok, at := lim.take(5, classAlert, t0.Add(time.Second)); ok || at.Before(t0.Add(3*time.Second)) {
			t.Fatalf("sent during retry_after (ok %v, at %v)", ok, at.Sub(t0))
		}
		if ok, _ := lim.take(5, classAlert, t0.Add(3*time.Second)); ok {
			t.Error("a burst right after retry_after: the bucket should be empty")
		}
	})
}

// TestAlertRightAfterAnEditGoesAtOnce: an analysis edit that goes out in a
// lull leaves the reserve, so an alert a moment later is sent without
// waiting for the chat's slot. The burst is 2 with a reserve of 1, so the
// first alert leaves one message: with the default burst of 3 there would
// be one to spare for the edit even with no reserve, and the test would
// not see the reserve at all.
func TestAlertRightAfterAnEditGoesAtOnce(t *testing.T) {
	f := newFakeAPI(t)
	const slot = 300 * time.Millisecond
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Chats = []int64{5}
		o.Limits = DefaultLimits
		o.Limits.PerChat = slot
		o.Limits.Burst, o.Limits.Reserve = 2, 1
	})
	a := testEvent("BTCUSDT", event.Long, 2e6)
	a.Seq = 1
	h.b.Offer(&a)
	f.waitN("sendMessage", 1)
	h.b.Annotate(event.Analysis{Seq: 1, Risk: event.RiskHigh, Summary: "cascade", Source: "rules"})
	f.waitN("editMessageText", 1)
	b := testEvent("ETHUSDT", event.Short, 2e6)
	b.Seq = 2
	offered := time.Now()
	h.b.Offer(&b)
	second := f.waitN("sendMessage", 2)[1]
	if !strings.Contains(second.Text, "ETHUSDT") {
		t.Fatalf("second message = %q", second.Text)
	}
	if d := second.At.Sub(offered); d > slot/6 {
		t.Errorf("the alert reached the Bot API %v after it was offered: it waited behind the edit (slot %v)", d, slot)
	}
	if strings.Contains(second.Text, "⏳") {
		t.Errorf("the alert shows a limit wait: %q", second.Text)
	}
}

// TestEveryAlertGetsItsAnalysis: alerts every 1–3 s for a minute, each
// analysed 1.8 s later (a 1.5 s window and a 300 ms model), at 1/20 of real
// time. Every alert gets its analysis in the chat, by an edit or in a
// reply that carries several, and Telegram's per-chat budget holds.
func TestEveryAlertGetsItsAnalysis(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 3 s, the same on every architecture: the full suite runs it")
	}
	const scale = 20
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Chats = []int64{5}
		o.Limits = DefaultLimits
		o.Limits.PerChat = time.Second / scale
		o.AnalysisMaxAge = 60 * time.Second / scale
	})
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 30 // a minute at one alert per 2 s on average
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		ev := testEvent("S"+strconv.Itoa(i)+"USDT", event.Side(1+i%2), 600_000)
		ev.Seq = uint64(i)
		h.b.Offer(&ev)
		wg.Add(1)
		time.AfterFunc(1800*time.Millisecond/scale, func() {
			defer wg.Done()
			h.b.Annotate(event.Analysis{Seq: uint64(i), Risk: event.RiskMedium, Summary: "read " + strconv.Itoa(i), Source: "llm", Model: "m"})
		})
		time.Sleep(time.Duration(1000+rng.IntN(2000)) * time.Millisecond / scale)
	}
	wg.Wait()
	// While alerts keep coming, not after: the last analysis is made
	// 1.8 s after the last alert; allow 3 s more, then count.
	time.Sleep(3 * time.Second / scale)
	sentAt := map[int]time.Time{}
	var lat []time.Duration
	for _, r := range f.Delivered() {
		for i := 1; i <= n; i++ {
			sym := "S" + strconv.Itoa(i) + "USDT"
			if r.Method == "sendMessage" && strings.Contains(r.Text, "<b>"+sym+"</b> <b>") && sentAt[i].IsZero() {
				sentAt[i] = r.At
			}
			if strings.Contains(r.Text, "read "+strconv.Itoa(i)+"\n") || strings.HasSuffix(r.Text, "read "+strconv.Itoa(i)) {
				if !sentAt[i].IsZero() {
					lat = append(lat, r.At.Sub(sentAt[i]))
					sentAt[i] = time.Time{}.Add(1) // counted once
				}
			}
		}
	}
	if len(lat) != n {
		t.Errorf("%d of %d alerts got their analysis while alerts kept coming", len(lat), n)
	}
	slices.Sort(lat)
	if got := len(f.requests("sendMessage")) - int(h.b.m.annCombined.Get()) - int(h.b.m.annReplies.Get()); got != n {
		t.Errorf("%d alerts sent, want %d", got, n)
	}
	checkBudget(t, f.requests(""), 0.5, Limits{PerChat: time.Second / scale, Burst: 3})
	if len(lat) > 0 {
		t.Logf("alert → analysis, real time: p50 %v, max %v; %d edits, %d combined replies carrying %d", lat[len(lat)/2]*scale, lat[len(lat)-1]*scale,
			h.b.m.annEdits.Get(), h.b.m.annCombined.Get(), h.b.m.annInCombined.Get())
	}
}

// TestCombinedReplyNewestFirst: when more analyses wait than the spare
// budget can edit, one reply under the newest alert carries them all,
// newest first.
func TestCombinedReplyNewestFirst(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Chats = []int64{5}
		o.Limits = DefaultLimits
		o.Limits.PerChat = 200 * time.Millisecond
		o.DigestMin = 100
	})
	for i := 1; i <= 3; i++ { // the whole burst
		ev := testEvent([]string{"", "AAAUSDT", "BBBUSDT", "CCCUSDT"}[i], event.Long, 1e6)
		ev.Seq = uint64(i)
		h.b.Offer(&ev)
	}
	sends := f.waitN("sendMessage", 3)
	for i := 1; i <= 3; i++ {
		h.b.Annotate(event.Analysis{Seq: uint64(i), Risk: event.RiskLow, Summary: "sum" + strconv.Itoa(i), Source: "rules", Lang: "en"})
	}
	r := f.waitN("sendMessage", 4)[3]
	if r.ReplyTo != sends[2].MsgID {
		t.Errorf("the combined reply answers message %d, want the newest alert %d", r.ReplyTo, sends[2].MsgID)
	}
	c, b, a := strings.Index(r.Text, "CCCUSDT"), strings.Index(r.Text, "BBBUSDT"), strings.Index(r.Text, "AAAUSDT")
	if !strings.Contains(r.Text, "Analyses of the last 3 alerts") || c < 0 || b < c || a < b {
		t.Errorf("combined reply not newest first with all three: %q", r.Text)
	}
	if n := len(f.requests("editMessageText")); n != 0 {
		t.Errorf("%d edits as well", n)
	}
}

// TestAnalysisTooOld: an alert older than AnalysisMaxAge gets no analysis
// in the chat; it is counted.
func TestAnalysisTooOld(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Chats = []int64{5}
		o.AnalysisMaxAge = 100 * time.Millisecond
	})
	ev := testEvent("BTCUSDT", event.Long, 1e6)
	ev.Seq = 7
	h.b.Offer(&ev)
	f.waitN("sendMessage", 1)
	time.Sleep(150 * time.Millisecond)
	h.b.Annotate(event.Analysis{Seq: 7, Risk: event.RiskLow, Summary: "late", Source: "rules"})
	waitFor(t, 2*time.Second, "the late analysis to be counted", func() bool { return h.b.m.annTooOld.Get() == 1 })
	// One enrich marked late (ready after its edit age) is not shown
	// either, even for a young alert.
	ev.Seq, ev.RecvNs = 8, time.Now().UnixNano()
	h.b.Offer(&ev)
	f.waitN("sendMessage", 2)
	h.b.Annotate(event.Analysis{Seq: 8, Risk: event.RiskLow, Summary: "late", Source: "llm", Late: true})
	waitFor(t, 2*time.Second, "the analysis marked late to be counted", func() bool { return h.b.m.annTooOld.Get() == 2 })
	if n := len(f.requests("editMessageText")) + len(f.requests("sendMessage")); n != 2 {
		t.Errorf("%d messages, want the alerts alone", n)
	}
}

// TestOnBoxExcludesLimitWait: an alert that waited for Telegram's limit
// shows the wait apart; its on-box figure is the box's own time.
func TestOnBoxExcludesLimitWait(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) {
		o.Chats = []int64{5}
		o.Limits = DefaultLimits
		o.Limits.PerChat = 300 * time.Millisecond
		o.Limits.Burst = 2
		o.DigestMin = 100
	})
	for i := 1; i <= 3; i++ {
		ev := testEvent("BTCUSDT", event.Long, 1e6)
		ev.Seq = uint64(i)
		h.b.Offer(&ev)
	}
	rs := f.waitN("sendMessage", 3)
	if strings.Contains(rs[0].Text, "⏳") || strings.Contains(rs[1].Text, "⏳") {
		t.Errorf("the burst shows a wait: %q", rs[1].Text)
	}
	third := rs[2].Text
	onBox, ok1 := latencyAfter(third, "on-box ")
	wait, ok2 := latencyAfter(third, "waited for Telegram's limit ")
	if !ok1 || !ok2 {
		t.Fatalf("third alert lacks its figures: %q", third)
	}
	// On-box holds the two sends before it (the box's own queue), not the
	// wait for the budget.
	if wait < 200*time.Millisecond || onBox > wait/3 {
		t.Errorf("on-box %v, wait %v: want the ~300 ms wait apart from a small on-box figure", onBox, wait)
	}
}

// latencyAfter reads a figure written by appendLatency after marker.
func latencyAfter(s, marker string) (time.Duration, bool) {
	i := strings.Index(s, marker)
	if i < 0 {
		return 0, false
	}
	s = s[i+len(marker):]
	if j := strings.IndexAny(s, "\n<"); j >= 0 {
		s = s[:j]
	}
	d, err := time.ParseDuration(strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "µs", "us"))
	return d, err == nil
}

// TestNoDiskWriteBeforeASend: the path to sendMessage writes nothing
// synchronously; what the bot persists for recovery goes through AsyncKV
// after the send.
func TestNoDiskWriteBeforeASend(t *testing.T) {
	kv := newMemKV()
	f := newFakeWith(t, telegramtest.Options{Token: testToken, OnRequest: func(r telegramtest.Request) {
		if r.Method != "sendMessage" {
			return
		}
		kv.mu.Lock()
		defer kv.mu.Unlock()
		if kv.puts != 0 {
			t.Errorf("%d synchronous writes before a send", kv.puts)
		}
	}})
	h := newHarness(t, f, kv, func(o *Options) {
		o.Chats = []int64{5}
		o.AsyncKV = kv
		o.DigestMin = 100
	})
	for i := 1; i <= 5; i++ {
		ev := testEvent("BTCUSDT", event.Long, 1e6)
		ev.Seq = uint64(i)
		h.b.Offer(&ev)
	}
	f.waitN("sendMessage", 5)
	waitFor(t, time.Second, "the awaited alerts to be persisted", func() bool {
		v, _ := kv.Get(bucketSent, []byte("5"))
		return len(v) == 1+5*sentEntrySize
	})
}

// logStore is a real store in a temp dir, running its writer.
type logStore struct {
	*store.Store
	path   string
	cancel context.CancelFunc
	done   chan error
}

func openLog(t *testing.T, path string) *logStore {
	t.Helper()
	st, err := store.Open(path, store.Options{BatchDelay: time.Millisecond, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &logStore{Store: st, path: path, cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- st.Run(ctx) }()
	return l
}

// close stops the writer (committing what it holds, as the last batch
// before a crash would be) and closes the file.
func (l *logStore) close(t *testing.T) {
	l.cancel()
	if err := <-l.done; err != nil {
		t.Fatal(err)
	}
	if err := l.Store.Close(); err != nil {
		t.Fatal(err)
	}
}

// PutAsync stands in for the store's batched write (Store.PutAsync on the
// store branch): a synchronous Put, which the test does not time.
func (l *logStore) PutAsync(b, k, v []byte) error { return l.Put(b, k, v) }

func logOptions(o *Options, l *logStore) {
	o.Chats = []int64{5}
	o.KV, o.AsyncKV, o.Acker, o.Log = l, l, l, l
	o.DigestMin = 100
}

// offerAndLog does what the pipeline does: Telegram first, then the log.
func offerAndLog(b *Bot, l *logStore, ev event.Event) {
	b.Offer(&ev)
	l.Append(&ev)
}

// firstRun starts a log in a temp dir and a bot on it, and offers (and
// logs) one alert, ETHUSDT, seq 1; it returns when the alert is at the Bot
// API.
func firstRun(t *testing.T) (path string, l *logStore, f *fake, h *harness, sent telegramtest.Request) {
	path = filepath.Join(t.TempDir(), "liqbox.db")
	l = openLog(t, path)
	f = newFakeAPI(t)
	h = newHarness(t, f, newMemKV(), func(o *Options) { logOptions(o, l) })
	ev := testEvent("ETHUSDT", event.Long, 1e6)
	ev.Seq = 1
	offerAndLog(h.b, l, ev)
	return path, l, f, h, f.waitN("sendMessage", 1)[0]
}

// TestCrashBetweenLogAndSend: events logged but not yet sent when the box
// stops are sent after the restart, marked as redelivered; an alert sent
// and acknowledged is not sent again; an event older than RedeliverMaxAge
// is not sent late.
func TestCrashBetweenLogAndSend(t *testing.T) {
	path, l, down, h, _ := firstRun(t)
	waitFor(t, 2*time.Second, "the first alert's checkpoint", func() bool { return l.Checkpoint("telegram:5") == 1 })
	down.SetFault(telegramtest.ServerError)
	old := testEvent("OLDUSDT", event.Long, 1e6)
	old.Seq, old.RecvNs = 2, time.Now().Add(-time.Hour).UnixNano()
	offerAndLog(h.b, l, old)
	for i, sym := range []string{"BBBUSDT", "CCCUSDT"} {
		// Received half a minute before the restart: young enough to be
		// sent again, old enough to show if the downtime were counted.
		ev := testEvent(sym, event.Short, 1e6)
		ev.Seq = uint64(3 + i)
		ev.RecvNs = time.Now().Add(-30 * time.Second).UnixNano()
		ev.TimeMs = ev.RecvNs/1e6 - 5
		offerAndLog(h.b, l, ev)
	}
	waitFor(t, 2*time.Second, "the events to be committed", func() bool { return l.Durable() == 4 })
	down.waitN("sendMessage", 2) // a failed attempt
	h.stop()
	l.close(t)

	l = openLog(t, path)
	defer l.close(t)
	up := newFakeAPI(t)
	h = newHarness(t, up, newMemKV(), func(o *Options) {
		logOptions(o, l)
		o.RedeliverMaxAge = time.Minute
	})
	rs := up.waitN("sendMessage", 2)
	time.Sleep(100 * time.Millisecond)
	rs = up.requests("sendMessage")
	if len(rs) != 2 {
		t.Fatalf("%d alerts after the restart, want 2 (BBB, CCC): %v", len(rs), rs)
	}
	for i, sym := range []string{"BBBUSDT", "CCCUSDT"} {
		if !strings.Contains(rs[i].Text, sym) || !strings.HasPrefix(rs[i].Text, "♻️ <b>Redelivered after a restart</b> · ") ||
			!strings.Contains(rs[i].Text, " late\n") {
			t.Errorf("redelivered alert %d = %q, want %s marked as redelivered", i, rs[i].Text, sym)
		}
		if onBox, ok := latencyAfter(rs[i].Text, "on-box "); !ok || onBox > time.Second {
			t.Errorf("redelivered alert's on-box figure %v counts the downtime", onBox)
		}
		if !regexp.MustCompile(`· 3[0-4] s late\n`).MatchString(rs[i].Text) {
			t.Errorf("redelivered alert does not say it is 30 s late: %q", rs[i].Text)
		}
	}
	waitFor(t, 2*time.Second, "the redelivered alerts' checkpoint", func() bool { return l.Checkpoint("telegram:5") == 4 })
}

// TestAnalysisPendingAtRestart: an alert sent before a stop whose analysis
// was made but not yet shown gets it after the restart, as an edit of the
// message sent before.
func TestAnalysisPendingAtRestart(t *testing.T) {
	path, l, _, h, sent := firstRun(t)
	waitFor(t, 2*time.Second, "the alert to be logged and its message id kept", func() bool {
		v, _ := l.Get(bucketSent, []byte("5"))
		return l.Durable() == 1 && len(v) == 1+sentEntrySize
	})
	h.stop()
	l.close(t)

	l = openLog(t, path)
	defer l.close(t)
	f2 := newFakeAPI(t)
	stored := analyses{1: {Seq: 1, Risk: event.RiskHigh, Summary: "made before the stop", Source: "llm", Model: "m"}}
	newHarness(t, f2, newMemKV(), func(o *Options) {
		logOptions(o, l)
		o.Analyses = stored
	})
	ed := f2.waitN("editMessageText", 1)[0]
	if ed.MsgID != sent.MsgID || !strings.HasPrefix(ed.Text, sent.Text) || !strings.Contains(ed.Text, "made before the stop") {
		t.Errorf("edit of message %d = %q; want message %d, %q plus the analysis", ed.MsgID, ed.Text, sent.MsgID, sent.Text)
	}
	if n := len(f2.requests("sendMessage")); n != 0 {
		t.Errorf("%d messages sent after the restart, want none (the alert was delivered)", n)
	}
	waitFor(t, 2*time.Second, "the analysis checkpoint", func() bool { return l.Checkpoint("telegram-analysis:5") == 1 })
}

type analyses map[uint64]event.Analysis

func (a analyses) LoadAnalysis(seq uint64) (event.Analysis, bool, error) {
	x, ok := a[seq]
	return x, ok, nil
}

// TestReplayOfferedFromTheLog: an alert offered already marked as replayed
// (liqbox replay --telegram) says it is a replay, how long ago it
// happened, and its on-box figure counts from the offer.
func TestReplayOfferedFromTheLog(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) { o.Chats = []int64{5} })
	ev := testEvent("BTCUSDT", event.Long, 1e6)
	ev.RecvNs = time.Now().Add(-2 * time.Hour).UnixNano()
	ev.TimeMs = ev.RecvNs / 1e6
	ev.Flags |= event.FlagReplay
	h.b.Offer(&ev)
	r := f.waitN("sendMessage", 1)[0]
	if !strings.HasPrefix(r.Text, "♻️ <b>Replayed from the log</b> · 2 h 0 min ago\n") {
		t.Errorf("replayed alert = %q", r.Text)
	}
	if onBox, ok := latencyAfter(r.Text, "on-box "); !ok || onBox > time.Second {
		t.Errorf("on-box %v counts the time since the liquidation", onBox)
	}
}
