package enrich

import (
	"math"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// TestMockLLMInterop runs the real client against @dwmkerr/mock-llm, an
// independent OpenAI-compatible server, started with
// enrich/testdata/mock-llm.yaml (see the command at the top of that file).
// It runs only when LIQBOX_MOCK_LLM_URL names it, e.g.
// http://127.0.0.1:6556/v1.
func TestMockLLMInterop(t *testing.T) {
	base := os.Getenv("LIQBOX_MOCK_LLM_URL")
	if base == "" {
		t.Skip("LIQBOX_MOCK_LLM_URL not set: start mock-llm with enrich/testdata/mock-llm.yaml to run this test")
	}
	if u, err := url.Parse(base); err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") {
		t.Fatalf("LIQBOX_MOCK_LLM_URL %q must be a loopback URL", base)
	}

	t.Run("batch answered", func(t *testing.T) {
		env := start(t, base, func(o *Options) { o.MaxBatch = 2; o.Window = time.Minute })
		env.offer(ev(9001, "BTCUSDT", event.Long, 2_500_000, 0))
		env.offer(ev(9002, "ETHUSDT", event.Short, 60_000, time.Second))
		got := env.sink.wait(t, 2)
		want := map[uint64]event.Risk{9001: event.RiskHigh, 9002: event.RiskLow}
		for _, a := range got {
			if a.Source != SourceLLM || a.Risk != want[a.Seq] || a.Summary == "" || a.Recommendation == "" {
				t.Errorf("analysis = %+v", a)
			}
		}
		r := env.e.Cost(time.Now())
		if r.Today.PromptTokens != 900 || r.Today.CompletionTokens != 120 || math.Abs(r.Today.USD-0.0003) > 1e-12 {
			t.Errorf("usage = %+v", r.Today)
		}
		if _, ok, err := LoadAnalysis(env.kv, 9001); !ok || err != nil {
			t.Errorf("analysis not stored: %v %v", ok, err)
		}
	})

	t.Run("unknown batch falls back", func(t *testing.T) {
		env := start(t, base, nil)
		env.offer(ev(42, "SOLUSDT", event.Long, 100_000, 0))
		if a := env.sink.wait(t, 1)[0]; a.Source != SourceRules || a.Reason != event.ReasonEmpty {
			t.Errorf("analysis = %+v, want rules, reason empty answer, for a reply with no entries", a)
		}
		// The model answered, with nothing usable: /status must not say ok.
		if s := env.e.State(); s.State != StateUnusable || s.Answers.Empty != 1 {
			t.Errorf("state = %v", s)
		}
	})

	t.Run("revoked key disables", func(t *testing.T) {
		env := start(t, base, func(o *Options) { o.APIKey = "interop-revoked-key"; o.MaxAttempts = 3 })
		env.offer(ev(9001, "BTCUSDT", event.Long, 2_500_000, 0))
		if a := env.sink.wait(t, 1)[0]; a.Source != SourceRules {
			t.Errorf("analysis = %+v", a)
		}
		if s := env.e.State(); s.State != StateAuthFailed {
			t.Errorf("state = %v", s)
		}
		if float64(env.e.m.requests.Get()) != 1 {
			t.Errorf("requests = %v, want 1", float64(env.e.m.requests.Get()))
		}
	})
}
