package enrich

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/event"
)

// TestFallbackSaysWhy checks that every rules read that stands in for the
// model says why, that the model's empty or unusable answers are counted,
// and that /status stops saying ok while the model answers with nothing.
func TestFallbackSaysWhy(t *testing.T) {
	partial := func(r *enrichtest.Request) string {
		return enrichtest.AnswerJSON([]enrichtest.Entry{highEntry(r.IDs[0])}) // the second alert is left out
	}
	for name, tc := range map[string]struct {
		h       enrichtest.Handler
		mod     func(*Options)
		reasons []string // per alert, "" for the model's read
		outcome string   // the answers counter that must be 1
		state   string
	}{
		"disabled": {nil, func(o *Options) { o.Enabled = false; o.APIKey = "" },
			[]string{event.ReasonDisabled, event.ReasonDisabled}, "", StateOff},
		"key rejected": {enrichtest.Unauthorized(), nil,
			[]string{event.ReasonKeyRejected, event.ReasonKeyRejected}, "", StateAuthFailed},
		"server error": {enrichtest.Status(http.StatusBadGateway, ""), nil,
			[]string{event.ReasonUnavailable, event.ReasonUnavailable}, "", StateOK},
		"circuit open": {enrichtest.Status(http.StatusBadGateway, ""), func(o *Options) { o.BreakerThreshold = 1 },
			[]string{event.ReasonUnavailable, event.ReasonCircuitOpen}, "", StateBreakerOpen},
		"budget": {answerHigh(100, 100), func(o *Options) { o.DailyTokenCap = 150 },
			[]string{"", event.ReasonBudget}, outcomeOK, StateOverBudget},
		"empty text": {enrichtest.Empty(), nil,
			[]string{event.ReasonEmpty, event.ReasonEmpty}, outcomeEmpty, StateUnusable},
		"no entries": {say(func(*enrichtest.Request) string { return `{"alerts":[]}` }, 10, 2), nil,
			[]string{event.ReasonEmpty, event.ReasonEmpty}, outcomeEmpty, StateUnusable},
		"prose": {say(func(*enrichtest.Request) string { return "The market looks volatile." }, 10, 5), nil,
			[]string{event.ReasonUnusable, event.ReasonUnusable}, outcomeUnusable, StateUnusable},
		"wrong ids": {say(func(*enrichtest.Request) string { return enrichtest.AnswerJSON([]enrichtest.Entry{highEntry("77")}) }, 10, 5), nil,
			[]string{event.ReasonUnusable, event.ReasonUnusable}, outcomeUnusable, StateUnusable},
		"partial": {say(partial, 10, 5), func(o *Options) { o.MaxBatch = 2; o.Window = time.Minute },
			[]string{"", event.ReasonUnusable}, outcomePartial, StateOK},
	} {
		t.Run(name, func(t *testing.T) {
			h := tc.h
			if h == nil {
				h = answerHigh(1, 1)
			}
			srv := newLLM(t, h)
			env := start(t, srv.URL(), tc.mod)
			var got []event.Analysis
			if tc.outcome == outcomePartial {
				env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
				env.offer(ev(2, "BTCUSDT", event.Long, 100_000, 0))
				got = env.sink.wait(t, 2)
			} else {
				for i := uint64(1); i <= 2; i++ { // one at a time: the second sees what the first did
					env.offer(ev(i, "BTCUSDT", event.Long, 100_000, 0))
					got = env.sink.wait(t, int(i))
				}
			}
			for i, a := range got {
				want := tc.reasons[a.Seq-1]
				if a.Reason != want || (want == "") != (a.Source == SourceLLM) {
					t.Errorf("analysis %d: source %s reason %q, want reason %q", i, a.Source, a.Reason, want)
				}
				if stored := env.stored(t, a.Seq); stored.Reason != a.Reason {
					t.Errorf("stored analysis %d: %+v", a.Seq, stored)
				}
			}
			for _, r := range tc.reasons {
				if r != "" && env.e.m.fallbacks[r].Get() == 0 {
					t.Errorf("fallback reason %s not counted", r)
				}
			}
			if tc.outcome != "" && env.e.m.answers[tc.outcome].Get() == 0 {
				t.Errorf("answer outcome %s not counted", tc.outcome)
			}
			s := env.e.State()
			if s.State != tc.state {
				t.Errorf("state = %s, want %s: %s", s.State, tc.state, s)
			}
			if tc.outcome == outcomeEmpty && (s.Answers.Empty != 2 || !strings.Contains(s.String(), "2 empty")) {
				t.Errorf("empty answers not shown: %s", s)
			}
		})
	}
}

// TestRulesReadInEveryLanguage checks that the rules read carries its
// words in English and Vietnamese whatever enrich.lang is, so each chat
// reads it in its own language, and that the stored copy keeps both.
func TestRulesReadInEveryLanguage(t *testing.T) {
	for _, lang := range []string{langEN, langVI} {
		t.Run(lang, func(t *testing.T) {
			env := start(t, "http://127.0.0.1:1", func(o *Options) { o.Enabled = false; o.APIKey = ""; o.Lang = lang })
			env.offer(ev(1, "BTCUSDT", event.Long, 600_000, 0))
			a := env.sink.wait(t, 1)[0]
			en, vi := a.In(langEN), a.In(langVI)
			if a.Lang != lang || en.Lang != langEN || vi.Lang != langVI {
				t.Fatalf("languages: %+v", a)
			}
			if !strings.Contains(en.Summary, "LONG liquidation on BTCUSDT $600.0K") || !strings.Contains(en.Summary, "longs liquidated 1m $600.0K (1 events)") ||
				!strings.Contains(en.Recommendation, "leverage") {
				t.Errorf("en = %+v", en)
			}
			if !strings.Contains(vi.Summary, "Thanh lý LONG BTCUSDT $600.0K") || !strings.Contains(vi.Summary, "1 phút $600.0K (1 lệnh)") ||
				!strings.Contains(vi.Recommendation, "đòn bẩy") {
				t.Errorf("vi = %+v", vi)
			}
			if stored := env.stored(t, 1); stored.In(langVI) != vi || stored.In(langEN) != en {
				t.Errorf("stored = %+v", stored)
			}
		})
	}
}

// TestStatusTextInVietnamese walks every state and checks the Vietnamese
// line holds none of the English line's words.
func TestStatusTextInVietnamese(t *testing.T) {
	english := []string{"enrich", "off", "disabled", "rules", "rejected", "restart", "cap", "wait", "failed", "probe",
		"answers", "usable", "model ", "lang ", "queue", "flight", "dropped", "late", "partial", "empty", "last error"}
	for _, st := range []string{StateOff, StateOK, StateAuthFailed, StateBreakerOpen, StateHalfOpen, StateOverBudget, StateRateLimited, StateUnusable} {
		s := Status{State: st, Model: "deepseek-v3.2", Lang: "vi", AuthStatus: 401, Failures: 3,
			Until: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), LastError: "cannot get chat completion: timeout"}
		en, vi := s.Text(langEN), s.Text(langVI)
		if en != s.String() || !strings.HasPrefix(en, "enrich: ") {
			t.Errorf("%s: en = %q", st, en)
		}
		body := strings.TrimSuffix(vi, "; lỗi gần nhất: "+s.LastError) // the server's own words stay as they came
		for _, w := range english {
			if strings.Contains(strings.ToLower(body), w) {
				t.Errorf("%s: vi line has the English %q: %s", st, w, vi)
			}
		}
		if !strings.HasPrefix(vi, "phân tích AI: ") {
			t.Errorf("%s: vi = %q", st, vi)
		}
	}
}
