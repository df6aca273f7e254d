package enrich

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/event"
)

func TestGoodJSON(t *testing.T) {
	srv := newLLM(t, answerHigh(1000, 500))
	// The batch closes on size, not on the window, so a loaded machine cannot split it.
	env := start(t, srv.URL(), func(o *Options) { o.MaxBatch = 3; o.Window = time.Minute })
	for i := uint64(1); i <= 3; i++ {
		env.offer(ev(i, "BTCUSDT", event.Long, 250_000, time.Duration(i)*time.Second))
	}
	got := env.sink.wait(t, 3)
	for i, a := range got {
		if a.Source != SourceLLM || a.Risk != event.RiskHigh || a.Model != "deepseek-v3.2" || a.Lang != "en" {
			t.Errorf("analysis %d = %+v, want llm HIGH", i, a)
		}
		if a.Seq != uint64(i+1) || a.Summary != "Model summary for "+string(rune('1'+i)) {
			t.Errorf("analysis %d = %+v", i, a)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one for the batch", len(reqs))
	}
	r := reqs[0]
	if r.Auth != "Bearer "+testKey {
		t.Errorf("Authorization = %q", r.Auth)
	}
	if r.Model != "deepseek-v3.2" || !r.JSONMode {
		t.Errorf("request = %s", r.Body)
	}
	if !strings.Contains(r.System, "in English") {
		t.Errorf("system prompt does not name the language")
	}
	// The third alert's context counts all three, on the long side, in every window.
	a3 := gjson.Get(r.Prompt, "alerts.2")
	for _, w := range []string{"1m", "5m", "1h"} {
		if got := a3.Get("context.liquidated_usd_" + w + ".long").Float(); got != 750_000 {
			t.Errorf("context %s long = %v, want 750000", w, got)
		}
	}
	if a3.Get("context.same_side_liquidations_1m").Int() != 3 || a3.Get("notional_usd").Float() != 250_000 || a3.Get("side").String() != "long" {
		t.Errorf("alert context = %s", a3.Raw)
	}
	wantUSD := 1000.0/1e6*0.28 + 500.0/1e6*0.42
	if got := env.e.m.usd.Get(); math.Abs(got-wantUSD) > 1e-12 {
		t.Errorf("spent = %v, want %v", got, wantUSD)
	}
	if float64(env.e.m.promptTokens.Get()) != 1000 || float64(env.e.m.completionTokens.Get()) != 500 {
		t.Errorf("tokens not counted")
	}
	if s := env.e.State(); s.State != StateOK {
		t.Errorf("state = %v", s)
	}
	// Results are stored for replay, in the store's next batch: the
	// delivery does not wait for the disk.
	var n int
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		n = 0
		err = ForEachAnalysis(env.kv, func(a event.Analysis) error { n++; return nil })
		if (err == nil && n == 3) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || n != 3 {
		t.Errorf("ForEachAnalysis saw %d, err %v", n, err)
	}
	a, ok, err := LoadAnalysis(env.kv, 2)
	if err != nil || !ok || a.Source != SourceLLM || a.Risk != event.RiskHigh {
		t.Errorf("LoadAnalysis = %+v %v %v", a, ok, err)
	}
}

func TestJSONInProse(t *testing.T) {
	for name, wrap := range map[string]func(string) string{
		"fenced": func(js string) string { return "Sure! Here is the analysis:\n```json\n" + js + "\n```\nLet me know." },
		"prose":  func(js string) string { return "Analysis {see below}: " + js + " -- done." },
	} {
		t.Run(name, func(t *testing.T) {
			srv := newLLM(t, say(func(r *enrichtest.Request) string { return wrap(highJSON(r)) }, 10, 10))
			env := start(t, srv.URL(), nil)
			env.offer(ev(7, "ETHUSDT", event.Short, 90_000, 0))
			if a := env.sink.wait(t, 1)[0]; a.Source != SourceLLM || a.Summary != "Model summary for 7" {
				t.Errorf("analysis = %+v", a)
			}
		})
	}
}

func TestMalformedJSON(t *testing.T) {
	srv := newLLM(t, enrichtest.WithUsage(enrichtest.Malformed(), 10, 10, 0))
	env := start(t, srv.URL(), nil)
	env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
	if a := env.sink.wait(t, 1)[0]; a.Source != SourceRules {
		t.Errorf("analysis = %+v, want rules", a)
	}
	if float64(env.e.m.failures["bad_json"].Get()) != 1 {
		t.Errorf("bad_json not counted")
	}
	// Usage is still counted: the tokens were spent.
	if env.e.Cost(time.Now()).Today.Tokens() != 20 {
		t.Errorf("usage of a bad answer not counted")
	}
}

func TestMissingUnknownAndInvalidIDs(t *testing.T) {
	answer := `{"alerts":[
		{"id":"999","risk_level":"HIGH","summary":"unknown","recommendation":"x"},
		{"id":1,"risk_level":"low","summary":"first","recommendation":"ok"},
		{"id":"2","risk_level":"EXTREME","summary":"bad level","recommendation":"x"},
		{"id":"4","risk_level":"MEDIUM","summary":"","recommendation":"empty summary"},
		{"id":"1","risk_level":"HIGH","summary":"duplicate","recommendation":"x"}]}`
	srv := newLLM(t, say(func(*enrichtest.Request) string { return answer }, 10, 10))
	env := start(t, srv.URL(), func(o *Options) { o.MaxBatch = 4; o.Window = time.Minute })
	for i := uint64(1); i <= 4; i++ {
		env.offer(ev(i, "SOLUSDT", event.Long, 60_000, 0))
	}
	got := env.sink.wait(t, 4)
	bySeq := map[uint64]event.Analysis{}
	for _, a := range got {
		bySeq[a.Seq] = a
	}
	if a := bySeq[1]; a.Source != SourceLLM || a.Risk != event.RiskLow || a.Summary != "first" {
		t.Errorf("seq 1 = %+v", a)
	}
	for _, s := range []uint64{2, 3, 4} {
		if a := bySeq[s]; a.Source != SourceRules {
			t.Errorf("seq %d = %+v, want rules", s, a)
		}
	}
	if len(got) != 4 || len(env.sink.all()) != 4 {
		t.Errorf("unknown id produced an analysis: %+v", env.sink.all())
	}
}

func TestOverLongTextIsCut(t *testing.T) {
	long := strings.Repeat("Thanh lý dây chuyền ", 40) // multi-byte runes
	srv := newLLM(t, say(func(*enrichtest.Request) string {
		return `{"alerts":[{"id":"1","risk_level":"MEDIUM","summary":"` + long + `","recommendation":"line1\nline2\u0007"}]}`
	}, 10, 10))
	env := start(t, srv.URL(), func(o *Options) { o.Lang = "vi" })
	env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
	a := env.sink.wait(t, 1)[0]
	if n := utf8.RuneCountInString(a.Summary); a.Source != SourceLLM || n > maxSummaryRunes || !utf8.ValidString(a.Summary) || !strings.HasSuffix(a.Summary, "…") {
		t.Errorf("summary (%d runes) = %q", n, a.Summary)
	}
	if a.Recommendation != "line1 line2" || a.Lang != "vi" {
		t.Errorf("recommendation = %q lang %q", a.Recommendation, a.Lang)
	}
	if !strings.Contains(srv.Requests()[0].System, "Vietnamese") {
		t.Errorf("system prompt does not ask for Vietnamese")
	}
}

func TestOverLargeReply(t *testing.T) {
	for name, chunked := range map[string]bool{"content-length": false, "chunked": true} {
		t.Run(name, func(t *testing.T) {
			srv := newLLM(t, func(*enrichtest.Request) enrichtest.Reply {
				return enrichtest.Reply{Content: strings.Repeat("x", 4096), Chunked: chunked}
			})
			env := start(t, srv.URL(), func(o *Options) { o.MaxResponseBytes = 1024 })
			env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
			if a := env.sink.wait(t, 1)[0]; a.Source != SourceRules {
				t.Errorf("analysis = %+v", a)
			}
			if float64(env.e.m.failures["too_large"].Get()) != 1 {
				t.Errorf("too_large not counted")
			}
		})
	}
}

func TestSlowDripAndHangTimeOut(t *testing.T) {
	for name, h := range map[string]enrichtest.Handler{
		"drip": func(*enrichtest.Request) enrichtest.Reply {
			return enrichtest.Reply{Content: "{}", Drip: 20 * time.Millisecond}
		},
		"hang": enrichtest.Hang(),
	} {
		t.Run(name, func(t *testing.T) {
			srv := newLLM(t, h)
			env := start(t, srv.URL(), func(o *Options) { o.Timeout = 300 * time.Millisecond })
			env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
			if a := env.sink.wait(t, 1)[0]; a.Source != SourceRules {
				t.Errorf("analysis = %+v", a)
			}
			if float64(env.e.m.failures["timeout"].Get()) != 1 {
				t.Errorf("timeout not counted")
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	srv := newLLM(t, enrichtest.Sequence(enrichtest.Status(http.StatusTooManyRequests, "1"), answerHigh(10, 10)))
	env := start(t, srv.URL(), func(o *Options) { o.MaxAttempts = 3 })
	env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
	if a := env.sink.wait(t, 1)[0]; a.Source != SourceLLM {
		t.Errorf("analysis = %+v, want llm after the retry", a)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	// RetryBase is 10 ms: only Retry-After explains a wait of about a second.
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 900*time.Millisecond {
		t.Errorf("retried after %v, before Retry-After", gap)
	}
	if float64(env.e.m.failures["rate_limited"].Get()) != 1 || float64(env.e.m.retries.Get()) != 1 {
		t.Errorf("rate_limited failures %d, retries %d", env.e.m.failures[causeRateLimited].Get(), env.e.m.retries.Get())
	}
}

func TestLongRetryAfterPausesRequests(t *testing.T) {
	srv := newLLM(t, enrichtest.Status(http.StatusServiceUnavailable, "120"))
	clock := newClock(baseTime)
	env := start(t, srv.URL(), func(o *Options) { o.MaxAttempts = 3; o.Clock = clock.now })
	env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
	env.sink.wait(t, 1)
	env.offer(ev(2, "BTCUSDT", event.Long, 100_000, 0))
	if a := env.sink.wait(t, 2)[1]; a.Source != SourceRules {
		t.Errorf("analysis = %+v", a)
	}
	if srv.Count() != 1 {
		t.Errorf("%d requests, want 1: a 120 s Retry-After must not be retried at once", srv.Count())
	}
	if s := env.e.State(); s.State != StateRateLimited {
		t.Errorf("state = %v", s)
	}
	clock.advance(121 * time.Second)
	env.offer(ev(3, "BTCUSDT", event.Long, 100_000, 0))
	env.sink.wait(t, 3)
	if srv.Count() != 2 {
		t.Errorf("%d requests after the pause, want 2", srv.Count())
	}
}

func TestAuthFailureDisables(t *testing.T) {
	// A careless server echoing the key: it must still not leak.
	srv := newLLM(t, enrichtest.Unauthorized())
	env := start(t, srv.URL(), func(o *Options) { o.MaxAttempts = 3 })
	for i := uint64(1); i <= 3; i++ {
		env.offer(ev(i, "BTCUSDT", event.Long, 100_000, 0))
		env.sink.wait(t, int(i))
	}
	for _, a := range env.sink.all() {
		if a.Source != SourceRules {
			t.Errorf("analysis = %+v", a)
		}
	}
	if srv.Count() != 1 {
		t.Errorf("%d requests, want exactly 1 (no retry storm)", srv.Count())
	}
	s := env.e.State()
	if s.State != StateAuthFailed || s.AuthStatus != 401 || !strings.Contains(s.String(), "HTTP 401") {
		t.Errorf("state = %v", s)
	}
	logs := env.logs.String()
	if strings.Count(logs, "enrichment disabled") != 1 {
		t.Errorf("want one clear log line, got:\n%s", logs)
	}
	for what, text := range map[string]string{"logs": logs, "status": s.String(), "metrics": env.metricsText()} {
		if strings.Contains(text, testKey) {
			t.Errorf("API key leaked into %s: %s", what, text)
		}
	}
	if !strings.Contains(s.LastError, "[redacted]") {
		t.Errorf("last error = %q, want the echoed key redacted", s.LastError)
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	srv := newLLM(t, enrichtest.Status(http.StatusInternalServerError, ""))
	clock := newClock(baseTime)
	env := start(t, srv.URL(), func(o *Options) {
		o.MaxAttempts = 2
		o.BreakerThreshold = 2
		o.BreakerCooldown = time.Minute
		o.Clock = clock.now
	})
	seq := uint64(0)
	step := func() event.Analysis {
		seq++
		env.offer(ev(seq, "BTCUSDT", event.Long, 100_000, 0))
		return env.sink.wait(t, int(seq))[seq-1]
	}
	step()
	step()
	if srv.Count() != 4 || env.e.State().State != StateBreakerOpen || env.e.m.breaker.Get() != 2 {
		t.Fatalf("after 2 failed batches: %d requests, %v", srv.Count(), env.e.State())
	}
	if a := step(); a.Source != SourceRules || srv.Count() != 4 {
		t.Errorf("open breaker let a request through: %d", srv.Count())
	}
	// After the cool-down one probe goes; it fails, and the breaker opens again.
	clock.advance(61 * time.Second)
	step()
	if srv.Count() != 6 || env.e.State().State != StateBreakerOpen {
		t.Errorf("failed probe: %d requests, %v", srv.Count(), env.e.State())
	}
	srv.SetHandler(answerHigh(10, 10))
	clock.advance(61 * time.Second)
	if a := step(); a.Source != SourceLLM {
		t.Errorf("probe answer = %+v", a)
	}
	if env.e.State().State != StateOK || env.e.m.breaker.Get() != 0 {
		t.Errorf("breaker did not close: %v", env.e.State())
	}
	if float64(env.e.m.failures["server"].Get()) != 6 {
		t.Errorf("server failures = %d, want 6", env.e.m.failures[causeServer].Get())
	}
}

// TestHungServerNeverBlocksHotPath holds the LLM hung while a burst of
// events and alerts goes through Observe and Offer, and checks every call
// returned while the server was still hung, and that the Sink still got
// rule-based reads.
func TestHungServerNeverBlocksHotPath(t *testing.T) {
	srv := newLLM(t, enrichtest.Hang())
	env := start(t, srv.URL(), func(o *Options) {
		o.Timeout = time.Hour // only the breaker and shutdown can end it
		o.QueueLen = 32
		o.MaxBatch = 8
		o.MaxInFlight = 1 // one hung request, so the queue arithmetic below is exact
	})
	env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never reached the server")
		}
		time.Sleep(time.Millisecond)
	}
	const events, alerts = 20000, 2000
	for i := 0; i < events; i++ {
		e := ev(uint64(100+i), "ETHUSDT", event.Side(1+i%2), float64(1000+i), time.Duration(i)*time.Millisecond)
		env.e.Observe(&e)
		if i%(events/alerts) == 0 {
			env.e.Offer(&e)
		}
	}
	if float64(env.e.m.dropped.Get()) != alerts-32 { // the first alert is in flight, not queued
		t.Errorf("dropped = %v, want %d", float64(env.e.m.dropped.Get()), alerts-32)
	}
	// Shutdown cancels the hung request; every queued alert gets the rules read.
	env.cancel()
	got := env.sink.wait(t, 33)
	for _, a := range got {
		if a.Source != SourceRules {
			t.Errorf("analysis = %+v", a)
		}
	}
}

func TestHungServerBreakerFallsBack(t *testing.T) {
	srv := newLLM(t, enrichtest.Hang())
	env := start(t, srv.URL(), func(o *Options) {
		o.Timeout = 200 * time.Millisecond
		o.BreakerThreshold = 1
	})
	for i := uint64(1); i <= 3; i++ {
		env.offer(ev(i, "BTCUSDT", event.Long, 100_000, 0))
		env.sink.wait(t, int(i))
	}
	if srv.Count() != 1 || env.e.State().State != StateBreakerOpen {
		t.Errorf("%d requests, state %v", srv.Count(), env.e.State())
	}
	for _, a := range env.sink.all() {
		if a.Source != SourceRules {
			t.Errorf("analysis = %+v", a)
		}
	}
}

func TestDisabledUsesRules(t *testing.T) {
	srv := newLLM(t, answerHigh(1, 1))
	env := start(t, srv.URL(), func(o *Options) { o.Enabled = false; o.APIKey = "" })
	env.offer(ev(1, "BTCUSDT", event.Long, 100_000, 0))
	if a := env.sink.wait(t, 1)[0]; a.Source != SourceRules || a.Model != "" {
		t.Errorf("analysis = %+v", a)
	}
	if srv.Count() != 0 || env.e.State().State != StateOff {
		t.Errorf("%d requests, state %v", srv.Count(), env.e.State())
	}
}

func TestMinUSD(t *testing.T) {
	srv := newLLM(t, answerHigh(1, 1))
	env := start(t, srv.URL(), func(o *Options) { o.MinUSD = 50_000 })
	env.offer(ev(1, "BTCUSDT", event.Long, 49_999, 0))
	env.offer(ev(2, "BTCUSDT", event.Long, 50_000, 0))
	if a := env.sink.wait(t, 1)[0]; a.Seq != 2 {
		t.Errorf("analysis = %+v", a)
	}
	if float64(env.e.m.belowMin.Get()) != 1 {
		t.Errorf("below-min not counted")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	sink := newSink()
	for name, o := range map[string]Options{
		"lang":     {Sink: sink, Lang: "fr"},
		"no sink":  {},
		"no key":   {Sink: sink, Enabled: true},
		"url":      {Sink: sink, BaseURL: "ftp://x"},
		"model":    {Sink: sink, Model: "no-such-model"},
		"price":    {Sink: sink, Prices: map[string]Price{"x": {InputPerM: -1}}},
		"negative": {Sink: sink, MaxBatch: -1},
		"age":      {Sink: sink, EditMaxAge: -time.Second},
		"inflight": {Sink: sink, MaxInFlight: -1},
		"acker":    {Sink: sink, Acker: &fakeAcker{}}, // acks need somewhere to store the analyses
	} {
		if _, err := New(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestResponseFormatRejected(t *testing.T) {
	srv := newLLM(t, func(r *enrichtest.Request) enrichtest.Reply {
		if r.JSONMode {
			return enrichtest.Reply{Status: http.StatusBadRequest, Content: "response_format is not supported"}
		}
		return enrichtest.Reply{Content: "Here you go: " + highJSON(r), PromptTokens: 10, CompletionTokens: 10}
	})
	env := start(t, srv.URL(), nil)
	for i := uint64(1); i <= 2; i++ {
		env.offer(ev(i, "BTCUSDT", event.Long, 100_000, 0))
		if a := env.sink.wait(t, int(i))[i-1]; a.Source != SourceLLM {
			t.Errorf("analysis = %+v", a)
		}
	}
	// One rejected request, then plain ones only.
	if srv.Count() != 3 || float64(env.e.m.requests.Get()) != 3 {
		t.Errorf("%d requests (metric %v), want 3", srv.Count(), float64(env.e.m.requests.Get()))
	}
}
