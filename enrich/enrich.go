// Package enrich follows each alert with a short risk read from an LLM
// (HolySheep, or any OpenAI-compatible chat-completions API), off the hot
// path.
//
// At start Seed rebuilds the per-symbol rolling aggregates from the log's
// last hour. Then the pipeline calls Observe for every event, which keeps
// them, and Offer for every event after the raw alert has gone to Telegram;
// neither blocks or allocates. Run sends the waiting alerts, newest first
// and in batches, to the model with context it cannot know by itself
// (recent liquidations on the symbol, the alert's size against them,
// whether a cascade is under way), validates the JSON answer and hands one
// event.Analysis per alert to the Sink, stores it, and then acknowledges it
// to the log. Whenever the model cannot answer in time (disabled, key
// rejected, breaker open, over budget, too slow, an empty or unusable
// answer) the Sink gets a rule-based read marked Source "rules", with the
// Reason, in every language liqbox speaks. An analysis ready after
// EditMaxAge is marked Late: kept, but not for editing the alert.
//
// enrichtest is a loopback chat-completions server for tests, the demo and
// the load test.
package enrich

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/logthrottle"
)

// Sink receives the analysis of each offered alert. The telegram Bot
// implements it by editing (or replying to) the alert. Annotate must not
// block: it is called from the enrichment goroutine.
type Sink interface {
	Annotate(event.Analysis)
}

// KV is the slice of the store enrich persists to. Get returns a nil value
// and a nil error for a missing key.
type KV interface {
	Get(bucket, key []byte) ([]byte, error)
	Put(bucket, key, value []byte) error
	ForEach(bucket []byte, fn func(k, v []byte) error) error
}

// Buckets enrich writes in the KV store (the store declares them as BucketLLMUsage and BucketEnrich).
const (
	// UsageBucket holds token and USD usage per UTC day ("day/2006-01-02")
	// and month ("month/2006-01"), as JSON.
	UsageBucket = "llm_usage"
	// ResultsBucket holds each analysis under its alert's big-endian seq, as JSON.
	ResultsBucket = "enrich"
)

// Errors returned by New.
var (
	// ErrInvalidOptions wraps every option New rejects.
	ErrInvalidOptions = errors.New("invalid enrich options")
)

// Options configure an Enricher. Zero values take the defaults noted.
type Options struct {
	// Enabled turns LLM calls on. When false every alert gets the rules read.
	Enabled bool
	// BaseURL of the OpenAI-compatible API; default https://api.holysheep.ai/v1.
	BaseURL string
	// APIKey is the bearer token (from HOLYSHEEP_API_KEY). It is never
	// logged, never put in an error and never exported as a metric.
	APIKey string
	// Model name; default deepseek-v3.2. It must have an entry in Prices.
	Model string
	// Timeout bounds one request from connect to the last byte; default 20 s.
	Timeout time.Duration
	// MaxTokens caps the completion; default 1024.
	MaxTokens int
	// Temperature is sent as is (0 is a valid, deterministic setting).
	Temperature float64
	// Window paces requests: while alerts keep coming, requests start at
	// least Window apart and the alerts that arrive in between go
	// together; the first alert after a lull waits only Window/10 for
	// company, and MaxBatch waiting alerts go at once. Default 1.5 s.
	Window time.Duration
	// MaxBatch is the most alerts in one request; default 10.
	MaxBatch int
	// MaxInFlight bounds the requests out at once, so that one slow
	// answer does not hold back the next batch; default 2.
	MaxInFlight int
	// EditMaxAge is how long after its alert was received an analysis may
	// still edit it: a later one is marked Late (stored, shown by replay,
	// /top and the page, but not edited in). The model has half of it: an
	// alert still waiting, or a request still out, by then gets the rules
	// read while there is time to edit (see Run). Use the same age as the
	// Telegram side. Default 60 s.
	EditMaxAge time.Duration
	// QueueLen bounds the alerts waiting; when full the oldest is dropped. Default 256.
	QueueLen int
	// MinUSD: only alerts of at least this notional are analysed (0 = all).
	MinUSD float64
	// Lang of the analysis text: "en" (default) or "vi".
	Lang string
	// Prices per model, merged over DefaultPrices.
	Prices map[string]Price
	// DailyTokenCap stops requests for the rest of the UTC day once today's
	// prompt plus completion tokens reach it (0 = no cap).
	DailyTokenCap int64
	// MonthlyUSDCap stops requests for the rest of the UTC month once the
	// month's spend reaches it (0 = no cap).
	MonthlyUSDCap float64

	// MaxAttempts per batch, first try included; default 3.
	MaxAttempts int
	// RetryBase is the first backoff, doubled per retry with jitter; default 500 ms.
	RetryBase time.Duration
	// MaxRetryWait is the longest wait inside one batch (backoff or
	// Retry-After). A longer Retry-After ends the batch with the rules read
	// and pauses requests until it has passed. Default 10 s.
	MaxRetryWait time.Duration
	// BreakerThreshold consecutive failed batches open the breaker; default 5.
	BreakerThreshold int
	// BreakerCooldown is how long the breaker stays open before one probe; default 60 s.
	BreakerCooldown time.Duration
	// MaxResponseBytes bounds a response body; a larger one is an error. Default 256 KiB.
	MaxResponseBytes int64
	// MaxSymbols bounds the rolling aggregates' symbol table; default 2048.
	MaxSymbols int

	// Sink receives every analysis (required).
	Sink Sink
	// KV persists usage and results (optional: without it nothing survives a restart).
	KV KV
	// Acker, when set, is told under AckSink the highest sequence number
	// up to which every event offered has its analysis durably in KV (or
	// needs none), so that a restart redelivers only what is pending. It
	// needs KV.
	Acker Acker
	// Metrics registers liqbox_enrich_* (a private set when nil).
	Metrics *metrics.Set
	// Logger for the component (discarded when nil).
	Logger *slog.Logger
	// Clock for budgets, the breaker and Retry-After pauses (time.Now when nil).
	Clock func() time.Time
	// HTTPClient to use instead of a default one (tests, proxies).
	HTTPClient *http.Client
}

type breakerState int

// Breaker states, as exported by liqbox_enrich_breaker_state.
const (
	breakerClosed   breakerState = 0
	breakerHalfOpen breakerState = 1
	breakerOpen     breakerState = 2
)

// Enricher batches alerts to the LLM and delivers analyses. Observe and
// Offer may be called from any goroutine; Run from one.
type Enricher struct {
	o      Options
	log    *slog.Logger
	now    func() time.Time
	prices map[string]Price
	agg    *aggregates
	q      queue
	wake   chan struct{}
	// cascades waits for runCascades (AnalyseCascade, cascade.go).
	cascades chan cascadeJob
	cl       *client
	led      ledger
	m        *enrichMetrics

	running  atomic.Bool
	inflight atomic.Int32  // requests out now
	seen     atomic.Uint64 // highest seq offered (alert or not)

	dmu sync.Mutex // serialises Sink.Annotate

	mu         sync.Mutex // guards the fields below
	authStatus int        // the HTTP status with which the API rejected the key; 0 while it has not
	badRun     int        // consecutive answers with nothing usable
	probing    bool       // a half-open breaker's probe is out
	breaker    breakerState
	fails      int       // consecutive failed batches
	openUntil  time.Time // when an open breaker lets one probe through
	notBefore  time.Time // no request before this (a long Retry-After)
	lastErr    string
	failLog    logthrottle.Throttle // failure log lines, one a minute
}

// New checks o, fills defaults and loads this month's usage from o.KV.
func New(o Options) (*Enricher, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	prices := DefaultPrices()
	for name, p := range o.Prices {
		if p.InputPerM < 0 || p.OutputPerM < 0 || math.IsNaN(p.InputPerM) || math.IsNaN(p.OutputPerM) {
			return nil, fmt.Errorf("%w: Prices[%q]: negative or NaN price", ErrInvalidOptions, name)
		}
		prices[name] = p
	}
	if _, ok := prices[o.Model]; !ok {
		return nil, fmt.Errorf("%w: Model %q has no entry in Prices, so its cost cannot be counted", ErrInvalidOptions, o.Model)
	}
	e := &Enricher{
		o:        o,
		log:      o.Logger,
		now:      o.Clock,
		prices:   prices,
		agg:      newAggregates(o.MaxSymbols),
		q:        queue{buf: make([]item, o.QueueLen)},
		wake:     make(chan struct{}, 1),
		cascades: make(chan cascadeJob, cascadeQueue),
		cl: &client{
			http: o.HTTPClient, url: strings.TrimRight(o.BaseURL, "/") + "/chat/completions",
			key: o.APIKey, model: o.Model, maxTokens: o.MaxTokens, temp: o.Temperature,
			timeout: o.Timeout, maxBody: o.MaxResponseBytes,
		},
		led: ledger{kv: o.KV},
	}
	e.failLog.Every = time.Minute
	e.m = newEnrichMetrics(o.Metrics, e.q.len, func() int { return int(e.inflight.Load()) })
	if _, _, _, _, err := e.led.snapshot(e.now()); err != nil {
		return nil, fmt.Errorf("cannot load enrichment usage: %w", err)
	}
	return e, nil
}

func (o *Options) fill() error {
	bad := func(field string, v any) error {
		return fmt.Errorf("%w: %s: bad value %v", ErrInvalidOptions, field, v)
	}
	if o.BaseURL == "" {
		o.BaseURL = "https://api.holysheep.ai/v1"
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: BaseURL must be an http(s) URL", ErrInvalidOptions)
	}
	if o.Model == "" {
		o.Model = "deepseek-v3.2"
	}
	if o.Lang == "" {
		o.Lang = langEN
	}
	if o.Lang != langEN && o.Lang != langVI {
		return bad("Lang", strconv.Quote(o.Lang)+` (want "en" or "vi")`)
	}
	if o.Enabled && o.APIKey == "" {
		return fmt.Errorf("%w: APIKey is empty while enrichment is enabled (set HOLYSHEEP_API_KEY)", ErrInvalidOptions)
	}
	if o.Sink == nil {
		return fmt.Errorf("%w: Sink is required", ErrInvalidOptions)
	}
	if o.Acker != nil && o.KV == nil {
		return fmt.Errorf("%w: Acker needs KV: an analysis is acknowledged once it is stored", ErrInvalidOptions)
	}
	durations := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &o.Timeout, 20 * time.Second},
		{"Window", &o.Window, 1500 * time.Millisecond},
		{"EditMaxAge", &o.EditMaxAge, time.Minute},
		{"RetryBase", &o.RetryBase, 500 * time.Millisecond},
		{"MaxRetryWait", &o.MaxRetryWait, 10 * time.Second},
		{"BreakerCooldown", &o.BreakerCooldown, time.Minute},
	}
	for _, d := range durations {
		if *d.p < 0 {
			return bad(d.name, *d.p)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	ints := []struct {
		name string
		p    *int
		def  int
	}{
		{"MaxTokens", &o.MaxTokens, 1024},
		{"MaxBatch", &o.MaxBatch, 10},
		{"MaxInFlight", &o.MaxInFlight, 2},
		{"QueueLen", &o.QueueLen, 256},
		{"MaxAttempts", &o.MaxAttempts, 3},
		{"BreakerThreshold", &o.BreakerThreshold, 5},
		{"MaxSymbols", &o.MaxSymbols, 2048},
	}
	for _, n := range ints {
		if *n.p < 0 {
			return bad(n.name, *n.p)
		}
		if *n.p == 0 {
			*n.p = n.def
		}
	}
	if o.MaxResponseBytes < 0 {
		return bad("MaxResponseBytes", o.MaxResponseBytes)
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = 256 << 10
	}
	if o.Temperature < 0 || o.Temperature > 2 || math.IsNaN(o.Temperature) {
		return bad("Temperature", o.Temperature)
	}
	if o.MinUSD < 0 || math.IsNaN(o.MinUSD) {
		return bad("MinUSD", o.MinUSD)
	}
	if o.DailyTokenCap < 0 {
		return bad("DailyTokenCap", o.DailyTokenCap)
	}
	if o.MonthlyUSDCap < 0 || math.IsNaN(o.MonthlyUSDCap) {
		return bad("MonthlyUSDCap", o.MonthlyUSDCap)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
	}
	return nil
}

// Observe adds ev to the rolling aggregates, at the exchange's time of the
// event. Call it for every event, before Offer for the same event. An event
// is counted once: observing one again (by sequence number) does nothing.
// It never blocks on I/O and does not allocate once the event's symbol has
// been seen.
func (e *Enricher) Observe(ev *event.Event) {
	if !e.agg.observe(ev) {
		e.m.symOverflow.Inc()
	}
}

// Offer queues an alert (already sent raw) for analysis, with a snapshot of
// its symbol's context, which counts the alert itself if Observe has not
// (an alert the log redelivers after a restart). Call it for every event after Observe: events below
// MinUSD, and those a venue replayed as backlog (never alerted), are passed
// over but still move the acknowledgement on. It never blocks and does not
// allocate; when the queue is full the oldest waiting alert is dropped and
// counted.
func (e *Enricher) Offer(ev *event.Event) {
	if ev.Flags&event.FlagBacklog != 0 {
		e.see(ev.Seq)
		return
	}
	if e.o.MinUSD > 0 && (!ev.NotionalKnown() || ev.Notional < e.o.MinUSD) {
		e.m.belowMin.Inc()
		e.see(ev.Seq)
		return
	}
	it := item{ev: *ev}
	var ok bool
	if it.cx, ok = e.agg.observeAndSnapshot(ev); !ok {
		e.m.symOverflow.Inc()
	}
	if e.q.push(&it) {
		e.m.dropped.Inc()
	}
	e.see(ev.Seq) // after the push: see runner.ack
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// see raises seen to seq.
func (e *Enricher) see(seq uint64) {
	for {
		cur := e.seen.Load()
		if seq <= cur || e.seen.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// SeedWindow is how much of the log Seed reads: the longest rolling window
// (the 1 h sums and the size history).
const SeedWindow = time.Hour

// Log reads the event log: Scan calls fn with every event received in
// [from, to) (a zero to: no bound), in sequence order. The store
// implements it.
type Log interface {
	Scan(from, to time.Time, fn func(*event.Event) error) error
}

// Seed rebuilds the rolling aggregates from the log's last SeedWindow
// before now, at each event's own time, so that the first analyses after a
// restart see the same past as before it. Call it before the pipeline
// starts and before the log redelivers pending alerts: events counted here
// are not counted again when they come back. It returns the number of
// events read.
func (e *Enricher) Seed(log Log, now time.Time) (int, error) {
	n := 0
	err := log.Scan(now.Add(-SeedWindow), time.Time{}, func(ev *event.Event) error {
		n++
		e.Observe(ev)
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("cannot seed enrichment's aggregates from the log: %w", err)
	}
	return n, nil
}
