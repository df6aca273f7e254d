package enrichtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/enrich/enrichtest"
)

const prompt = `{"alerts":[{"id":"7","symbol":"BTCUSDT"},{"id":"8","symbol":"ETHUSDT"}]}`

func post(t *testing.T, ctx context.Context, url string) (*http.Response, string) {
	t.Helper()
	body := `{"model":"m","response_format":{"type":"json_object"},"messages":[{"role":"system","content":"sys"},{"role":"user","content":` +
		fmt.Sprintf("%q", prompt) + `}]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func start(t *testing.T, o enrichtest.Options) *enrichtest.Server {
	t.Helper()
	s, err := enrichtest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestAnswersEveryAlertAndRecords(t *testing.T) {
	s := start(t, enrichtest.Options{Delay: 50 * time.Millisecond})
	t0 := time.Now()
	resp, body := post(t, context.Background(), s.BaseURL())
	if took := time.Since(t0); took < 50*time.Millisecond {
		t.Errorf("answered after %v, before the delay", took)
	}
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("reply: %v %s", resp, body)
	}
	content := gjson.Get(body, "choices.0.message.content").String()
	if ids := gjson.Get(content, "alerts.#.id").String(); ids != `["7","8"]` {
		t.Errorf("answered ids %s in %s", ids, content)
	}
	if gjson.Get(body, "usage.prompt_tokens").Int() != enrichtest.DefaultPromptTokens {
		t.Errorf("usage: %s", body)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || s.Count() != 1 || s.Answered() != 2 {
		t.Fatalf("recorded %d, count %d, answered %d", len(reqs), s.Count(), s.Answered())
	}
	r := reqs[0]
	if r.Auth != "Bearer k" || r.Model != "m" || r.System != "sys" || !r.JSONMode || strings.Join(r.IDs, ",") != "7,8" {
		t.Errorf("request = %+v", r)
	}
}

func TestFaults(t *testing.T) {
	for name, tc := range map[string]struct {
		h          enrichtest.Handler
		status     int
		retryAfter string
		check      func(body string) bool
	}{
		"429":       {enrichtest.Status(429, "3"), 429, "3", func(b string) bool { return gjson.Get(b, "error.message").Exists() }},
		"500":       {enrichtest.Status(500, ""), 500, "", func(string) bool { return true }},
		"401 echo":  {enrichtest.Unauthorized(), 401, "", func(b string) bool { return strings.Contains(b, "provided: k") }},
		"empty":     {enrichtest.Empty(), 200, "", func(b string) bool { return gjson.Get(b, "choices.0.message.content").String() == "" }},
		"malformed": {enrichtest.Malformed(), 200, "", func(b string) bool { return !gjson.Valid(gjson.Get(b, "choices.0.message.content").String()) }},
		"garbage":   {enrichtest.Garbage(), 200, "", func(b string) bool { return !gjson.Valid(b) }},
	} {
		t.Run(name, func(t *testing.T) {
			s := start(t, enrichtest.Options{Handler: tc.h})
			resp, body := post(t, context.Background(), s.BaseURL())
			if resp == nil || resp.StatusCode != tc.status || resp.Header.Get("Retry-After") != tc.retryAfter || !tc.check(body) {
				t.Errorf("reply %v: %s", resp, body)
			}
			if s.Answered() != 0 {
				t.Errorf("answered = %d", s.Answered())
			}
		})
	}
}

func TestHangUntilReplacedOrGivenUp(t *testing.T) {
	s := start(t, enrichtest.Options{Handler: enrichtest.Hang()})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if resp, _ := post(t, ctx, s.BaseURL()); resp != nil {
		t.Fatalf("a hung request answered %d", resp.StatusCode)
	}
	done := make(chan *http.Response, 1)
	go func() {
		resp, _ := post(t, context.Background(), s.BaseURL())
		done <- resp
	}()
	for s.Count() < 2 {
		time.Sleep(time.Millisecond)
	}
	s.SetHandler(nil)
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("released hang answered %v, want 502", resp)
	}
	if resp, _ := post(t, context.Background(), s.BaseURL()); resp == nil || resp.StatusCode != 200 {
		t.Errorf("after SetHandler(nil): %v", resp)
	}
}

func TestSequence(t *testing.T) {
	s := start(t, enrichtest.Options{Handler: enrichtest.Sequence(enrichtest.Status(429, "1"), enrichtest.AnswerAll())})
	var got []int
	for range 3 {
		resp, _ := post(t, context.Background(), s.BaseURL())
		got = append(got, resp.StatusCode)
	}
	if fmt.Sprint(got) != "[429 200 200]" {
		t.Errorf("statuses %v", got)
	}
}

// A test of a client points it at BaseURL and picks how the model behaves.
func Example() {
	s, err := enrichtest.New(enrichtest.Options{
		Handler: enrichtest.Sequence(enrichtest.Status(http.StatusTooManyRequests, "1"), enrichtest.AnswerAll()),
		Delay:   enrichtest.DefaultDelay,
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(strings.HasPrefix(s.BaseURL(), "http://127.0.0.1:"), strings.HasSuffix(s.BaseURL(), "/v1"))
	// Output: true true
}
