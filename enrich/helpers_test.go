package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

const testKey = "sk-test-SECRET-0123456789abcdef"

// fakeSink records analyses.
type fakeSink struct {
	mu  sync.Mutex
	got []event.Analysis
	ch  chan struct{}
}

func newSink() *fakeSink { return &fakeSink{ch: make(chan struct{}, 1<<16)} }

func (s *fakeSink) Annotate(a event.Analysis) {
	s.mu.Lock()
	s.got = append(s.got, a)
	s.mu.Unlock()
	s.ch <- struct{}{}
}

// wait returns the first n analyses, failing the test if they do not come.
func (s *fakeSink) wait(t *testing.T, n int) []event.Analysis {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		if len(s.got) >= n {
			out := append([]event.Analysis(nil), s.got[:n]...)
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		select {
		case <-s.ch:
		case <-deadline:
			t.Fatalf("got %d analyses, want %d", len(s.all()), n)
		}
	}
}

func (s *fakeSink) all() []event.Analysis {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Analysis(nil), s.got...)
}

// memKV is an in-memory KV.
type memKV struct {
	mu sync.Mutex
	m  map[string]map[string][]byte
}

func newKV() *memKV { return &memKV{m: map[string]map[string][]byte{}} }

func (k *memKV) Get(bucket, key []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v := k.m[string(bucket)][string(key)]
	return bytes.Clone(v), nil
}

func (k *memKV) Put(bucket, key, value []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.m[string(bucket)]
	if b == nil {
		b = map[string][]byte{}
		k.m[string(bucket)] = b
	}
	b[string(key)] = bytes.Clone(value)
	return nil
}

func (k *memKV) ForEach(bucket []byte, fn func(k, v []byte) error) error {
	k.mu.Lock()
	b := k.m[string(bucket)]
	keys := make([]string, 0, len(b))
	for key := range b {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, key := range keys {
		vals[i] = b[key]
	}
	k.mu.Unlock()
	for i, key := range keys {
		if err := fn([]byte(key), vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// fakeClock is a settable clock.
type fakeClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// llm is a loopback chat-completions server whose behaviour a test swaps.
type llm struct {
	srv      *httptest.Server
	mu       sync.Mutex
	handler  http.HandlerFunc
	requests []recorded
}

type recorded struct {
	at     time.Time
	auth   string
	body   []byte
	prompt string // the user message: the alerts JSON
}

func newLLM(t *testing.T, h http.HandlerFunc) *llm {
	l := &llm{handler: h}
	l.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		l.mu.Lock()
		l.requests = append(l.requests, recorded{at: time.Now(), auth: r.Header.Get("Authorization"), body: body,
			prompt: gjson.GetBytes(body, "messages.1.content").String()})
		h := l.handler
		l.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

func (l *llm) set(h http.HandlerFunc) {
	l.mu.Lock()
	l.handler = h
	l.mu.Unlock()
}

func (l *llm) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.requests)
}

func (l *llm) reqs() []recorded {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]recorded(nil), l.requests...)
}

// requestIDs lists the alert ids in a chat request body.
func requestIDs(body []byte) []string {
	var ids []string
	prompt := gjson.GetBytes(body, "messages.1.content").String()
	gjson.Get(prompt, "alerts.#.id").ForEach(func(_, v gjson.Result) bool {
		ids = append(ids, v.String())
		return true
	})
	return ids
}

// chatBody wraps content in a chat-completions response with usage.
func chatBody(content string, prompt, completion int64, extraUsage string) []byte {
	c, _ := json.Marshal(content)
	return []byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":` + string(c) +
		`},"finish_reason":"stop"}],"usage":{"prompt_tokens":` + strconv.FormatInt(prompt, 10) + `,"completion_tokens":` +
		strconv.FormatInt(completion, 10) + `,"total_tokens":` + strconv.FormatInt(prompt+completion, 10) + extraUsage + `}}`)
}

// goodAnswer answers every id in the request HIGH.
func goodAnswer(body []byte) string {
	var b bytes.Buffer
	b.WriteString(`{"alerts":[`)
	for i, id := range requestIDs(body) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"` + id + `","risk_level":"HIGH","summary":"Model summary for ` + id + `","recommendation":"Reduce leverage."}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// respond answers with content built from the request and fixed usage.
func respond(content func(body []byte) string, prompt, completion int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(chatBody(content(body), prompt, completion, ""))
	}
}

type testEnv struct {
	e      *Enricher
	sink   *fakeSink
	kv     *memKV
	set    *metrics.Set
	logs   *syncBuffer
	cancel func()
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start builds an Enricher against url with test-friendly defaults, lets
// mod adjust the options, and runs it until the test ends.
func start(t *testing.T, url string, mod func(*Options)) *testEnv {
	t.Helper()
	env := &testEnv{sink: newSink(), kv: newKV(), set: metrics.NewSet(), logs: &syncBuffer{}, done: make(chan error, 1)}
	o := Options{
		Enabled: true, BaseURL: url, APIKey: testKey,
		Timeout: 2 * time.Second, Window: 20 * time.Millisecond, MaxBatch: 10, QueueLen: 64,
		MaxAttempts: 1, RetryBase: 10 * time.Millisecond,
		Sink: env.sink, KV: env.kv, Metrics: env.set,
		Logger: slog.New(slog.NewTextHandler(env.logs, nil)),
	}
	if mod != nil {
		mod(&o)
	}
	e, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	env.e = e
	ctx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	go func() { env.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-env.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not stop")
		}
	})
	return env
}

func (env *testEnv) metricsText() string {
	var b bytes.Buffer
	env.set.WritePrometheus(&b)
	return b.String()
}

// metric returns the value of one sample line in the set, or -1.
func (env *testEnv) metric(name string) float64 {
	for _, line := range bytes.Split([]byte(env.metricsText()), []byte("\n")) {
		if bytes.HasPrefix(line, []byte(name+" ")) {
			v, _ := strconv.ParseFloat(string(line[len(name)+1:]), 64)
			return v
		}
	}
	return -1
}

var baseTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// ev makes an event of usd notional at baseTime plus offset.
func ev(seq uint64, sym string, side event.Side, usd float64, offset time.Duration) event.Event {
	return event.Event{
		Seq: seq, TimeMs: baseTime.Add(offset).UnixMilli(), RecvNs: baseTime.Add(offset).UnixNano(),
		Price: 100, Qty: usd / 100, Notional: usd,
		Venue: event.BinanceUSDM, Market: event.Linear, Side: side, Basis: event.BasisLinear,
		Symbol: event.MakeSymbol(sym),
	}
}

// offer observes and offers an alert, as the pipeline does.
func (env *testEnv) offer(e event.Event) {
	env.e.Observe(&e)
	env.e.Offer(&e)
}
