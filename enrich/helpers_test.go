package enrich

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/event"
)

const testKey = "sk-test-SECRET-0123456789abcdef"

// fakeSink records analyses and when each arrived.
type fakeSink struct {
	mu  sync.Mutex
	got []event.Analysis
	at  []time.Time
	ch  chan struct{}
}

func newSink() *fakeSink { return &fakeSink{ch: make(chan struct{}, 1<<16)} }

func (s *fakeSink) Annotate(a event.Analysis) {
	s.mu.Lock()
	s.got = append(s.got, a)
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	s.ch <- struct{}{}
}

// arrivals returns when the analysis of each seq arrived (the first, if several did).
func (s *fakeSink) arrivals() map[uint64]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[uint64]time.Time, len(s.got))
	for i, a := range s.got {
		if _, ok := m[a.Seq]; !ok {
			m[a.Seq] = s.at[i]
		}
	}
	return m
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

// memKV is an in-memory KV. failPut, when set, makes Put fail for the
// keys it picks, as a full disk would.
type memKV struct {
	mu      sync.Mutex
	m       map[string]map[string][]byte
	failPut func(bucket, key []byte) bool
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
	if k.failPut != nil && k.failPut(bucket, key) {
		return errors.New("disk full")
	}
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

// newLLM starts the loopback chat-completions server answering with h; it
// stops when the test ends.
func newLLM(t *testing.T, h enrichtest.Handler) *enrichtest.Server {
	t.Helper()
	srv, err := enrichtest.New(enrichtest.Options{Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// highEntry is the model's HIGH read of alert id, with a summary that names it.
func highEntry(id string) enrichtest.Entry {
	return enrichtest.Entry{ID: id, Risk: "HIGH", Summary: "Model summary for " + id, Recommendation: "Reduce leverage."}
}

// highJSON answers every alert of r with highEntry.
func highJSON(r *enrichtest.Request) string {
	es := make([]enrichtest.Entry, len(r.IDs))
	for i, id := range r.IDs {
		es[i] = highEntry(id)
	}
	return enrichtest.AnswerJSON(es)
}

// answerHigh answers every alert with highEntry, billing these tokens.
func answerHigh(prompt, completion int64) enrichtest.Handler {
	return enrichtest.WithUsage(enrichtest.Answer(highEntry), prompt, completion, 0)
}

// say answers every request with this model text, billing these tokens.
func say(content func(r *enrichtest.Request) string, prompt, completion int64) enrichtest.Handler {
	return enrichtest.WithUsage(enrichtest.Content(content), prompt, completion, 0)
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
	env := prepare(t, url, mod)
	env.run(t)
	return env
}

// prepare builds the Enricher as start does, without running it: what is
// offered before run waits in the queue.
func prepare(t *testing.T, url string, mod func(*Options)) *testEnv {
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
	return env
}

// run runs the Enricher until the test ends or env.cancel is called.
func (env *testEnv) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	go func() { env.done <- env.e.Run(ctx) }()
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
}

// stored waits for the analysis of seq to be in the KV store (the Sink
// hears of it first) and returns it.
func (env *testEnv) stored(t *testing.T, seq uint64) event.Analysis {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, ok, err := LoadAnalysis(env.kv, seq)
		if err != nil {
			t.Fatalf("LoadAnalysis(%d): %v", seq, err)
		}
		if ok {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("analysis %d never stored", seq)
		}
		time.Sleep(time.Millisecond)
	}
}

// metricsText is what /metrics would show, only to check that no secret
// reaches it: tests read the counters themselves (env.e.m).
func (env *testEnv) metricsText() string {
	var b bytes.Buffer
	env.set.WritePrometheus(&b)
	return b.String()
}

var baseTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// ev makes an event of usd notional that happened at baseTime plus offset
// (the exchange's time, which the aggregates count by) and was received
// now plus offset (the local time, which ages it).
func ev(seq uint64, sym string, side event.Side, usd float64, offset time.Duration) event.Event {
	return event.Event{
		Seq: seq, TimeMs: baseTime.Add(offset).UnixMilli(), RecvNs: time.Now().Add(offset).UnixNano(),
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
