// Package enrich follows each alert with a short risk read from an LLM
// (HolySheep, or any OpenAI-compatible chat-completions API), off the hot
// path.
//
// The pipeline calls Observe for every event, which keeps per-symbol
// rolling aggregates, and Offer for every alert after the raw alert has gone
// to Telegram. Neither blocks or allocates. Run collects offered alerts for
// a short window, asks the model about the whole batch in one request with
// context it cannot know by itself (recent liquidations on the symbol, the
// alert's size against them, whether a cascade is under way), validates the
// JSON answer and hands one event.Analysis per alert to the Sink. Whenever
// the model cannot answer (disabled, key rejected, breaker open, over
// budget, bad answer) the Sink gets a rule-based read marked Source "rules".
package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
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
	// Window is how long alerts are collected before a request; default 1.5 s.
	Window time.Duration
	// MaxBatch is the most alerts in one request; default 10.
	MaxBatch int
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
	cl     *client
	led    ledger
	m      *enrichMetrics

	running  atomic.Bool
	inflight atomic.Int32 // requests out now

	mu         sync.Mutex // guards the fields below
	authStatus int        // the HTTP status with which the API rejected the key; 0 while it has not
	badRun     int        // consecutive answers with nothing usable
	breaker    breakerState
	fails      int       // consecutive failed batches
	openUntil  time.Time // when an open breaker lets one probe through
	notBefore  time.Time // no request before this (a long Retry-After)
	lastErr    string
	lastLog    time.Time // throttles failure log lines
	quiet      int       // failures not logged since lastLog
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
		o:      o,
		log:    o.Logger,
		now:    o.Clock,
		prices: prices,
		agg:    newAggregates(o.MaxSymbols),
		q:      queue{buf: make([]item, o.QueueLen)},
		wake:   make(chan struct{}, 1),
		cl: &client{
			http: o.HTTPClient, url: strings.TrimRight(o.BaseURL, "/") + "/chat/completions",
			key: o.APIKey, model: o.Model, maxTokens: o.MaxTokens, temp: o.Temperature,
			timeout: o.Timeout, maxBody: o.MaxResponseBytes, jsonMode: true,
		},
		led: ledger{kv: o.KV},
	}
	e.m = newEnrichMetrics(o.Metrics, e.q.len)
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
	durations := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &o.Timeout, 20 * time.Second},
		{"Window", &o.Window, 1500 * time.Millisecond},
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

// Observe adds ev to the rolling aggregates. Call it for every event, before
// Offer for the same event. It never blocks on I/O and does not allocate
// once the event's symbol has been seen.
func (e *Enricher) Observe(ev *event.Event) {
	if !e.agg.observe(ev) {
		e.m.symOverflow.Inc()
	}
}

// Offer queues an alert (already sent raw) for analysis, with a snapshot of
// its symbol's context. It never blocks and does not allocate; when the
// queue is full the oldest waiting alert is dropped and counted.
func (e *Enricher) Offer(ev *event.Event) {
	if e.o.MinUSD > 0 && (!ev.NotionalKnown() || ev.Notional < e.o.MinUSD) {
		e.m.belowMin.Inc()
		return
	}
	it := item{ev: *ev, cx: e.agg.snapshot(ev)}
	if e.q.push(&it) {
		e.m.dropped.Inc()
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run batches offered alerts until ctx is done. Alerts still queued then get
// the rules read. It returns nil on a clean stop.
func (e *Enricher) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("cannot run enricher: already running")
	}
	defer e.running.Store(false)
	batch := make([]item, 0, e.o.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			e.drain(batch)
			return nil
		case <-e.wake:
		}
		if !e.waitWindow(ctx) {
			e.drain(batch)
			return nil
		}
		for {
			batch = e.q.pop(batch[:0], e.o.MaxBatch)
			if len(batch) == 0 {
				break
			}
			e.process(ctx, batch)
			if ctx.Err() != nil {
				e.drain(batch)
				return nil
			}
		}
	}
}

// waitWindow lets a batch gather for Window, or until MaxBatch alerts wait.
func (e *Enricher) waitWindow(ctx context.Context) bool {
	if e.q.len() >= e.o.MaxBatch {
		return true
	}
	t := time.NewTimer(e.o.Window)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-e.wake:
			if e.q.len() >= e.o.MaxBatch {
				return true
			}
		}
	}
}

func (e *Enricher) drain(buf []item) {
	for {
		buf = e.q.pop(buf[:0], e.o.MaxBatch)
		if len(buf) == 0 {
			return
		}
		e.m.skipped[skipShutdown].Inc()
		e.fallback(buf, event.ReasonShutdown)
	}
}

// Skip reasons, as counted in liqbox_enrich_skipped_batches_total{reason=...}.
const (
	skipOff         = "off"
	skipAuth        = "auth"
	skipBudget      = "budget"
	skipRateLimited = "rate_limited"
	skipBreaker     = "breaker"
	skipShutdown    = "shutdown"
)

// skipReason is the reason an analysis carries when its batch was skipped.
var skipReason = map[string]string{
	skipOff: event.ReasonDisabled, skipAuth: event.ReasonKeyRejected, skipBudget: event.ReasonBudget,
	skipRateLimited: event.ReasonRateLimited, skipBreaker: event.ReasonCircuitOpen, skipShutdown: event.ReasonShutdown,
}

// gate says why no request may go out now, or "" when one may. An open
// breaker whose cool-down has passed turns half-open and lets this batch
// through as the probe.
func (e *Enricher) gate(now time.Time) string {
	if !e.o.Enabled {
		return skipOff
	}
	_, _, today, month, err := e.led.snapshot(now)
	if err != nil {
		e.log.Warn("cannot read enrichment usage", "err", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.authStatus != 0:
		return skipAuth
	case overBudget(today, month, e.o.DailyTokenCap, e.o.MonthlyUSDCap):
		return skipBudget
	case now.Before(e.notBefore):
		return skipRateLimited
	case e.breaker == breakerOpen:
		if now.Before(e.openUntil) {
			return skipBreaker
		}
		e.setBreakerLocked(breakerHalfOpen)
	}
	return ""
}

func (e *Enricher) setBreakerLocked(s breakerState) {
	e.breaker = s
	e.m.breaker.Set(float64(s))
}

// process answers one batch: from the model when it may and does answer
// well, else from the rules.
func (e *Enricher) process(ctx context.Context, batch []item) {
	e.m.batchSize.Update(float64(len(batch)))
	if skip := e.gate(e.now()); skip != "" {
		e.m.skipped[skip].Inc()
		e.fallback(batch, skipReason[skip])
		return
	}
	system, user, ids := e.prompt(batch)
	ans, err := e.ask(ctx, system, user, ids)
	if err != nil {
		reason := event.ReasonUnavailable
		var ce *callError
		switch {
		case ctx.Err() != nil:
			reason = event.ReasonShutdown
		case errors.As(err, &ce) && ce.cause == causeAuth:
			reason = event.ReasonKeyRejected
		case errors.As(err, &ce) && ce.cause == causeRateLimited:
			reason = event.ReasonRateLimited
		}
		if ctx.Err() == nil {
			e.failed(err)
		}
		e.fallback(batch, reason)
		return
	}
	e.m.answers[ans.outcome].Inc()
	missing := event.ReasonUnusable
	switch ans.outcome {
	case outcomeEmpty:
		missing = event.ReasonEmpty
		e.badAnswer(ans.why)
	case outcomeUnusable:
		e.badAnswer(ans.why)
	default:
		e.succeeded()
	}
	for i := range batch {
		it := &batch[i]
		v, ok := ans.verdicts[i]
		if !ok {
			e.deliver(rulesAnalysis(&it.ev, &it.cx, e.o.Lang, missing))
			continue
		}
		e.deliver(event.Analysis{
			Seq: it.ev.Seq, Risk: v.risk, Summary: v.summary, Recommendation: v.recommendation,
			Source: SourceLLM, Model: e.o.Model, Lang: e.o.Lang,
		})
	}
}

// Outcomes of one answer of the model, as counted in
// liqbox_enrich_answers_total{outcome=...}.
const (
	outcomeOK       = "ok"       // every alert got a valid entry
	outcomePartial  = "partial"  // some did
	outcomeEmpty    = "empty"    // no text, or JSON without entries
	outcomeUnusable = "unusable" // text without JSON, or no valid entry
)

var allOutcomes = [...]string{outcomeOK, outcomePartial, outcomeEmpty, outcomeUnusable}

// answer is what one reply of the model gave for a batch.
type answer struct {
	verdicts map[int]verdict // by batch index
	outcome  string
	why      string // for empty and unusable: what was wrong, for the log and /status
}

// judge validates the model's text for a batch of n alerts.
func (e *Enricher) judge(content string, ids map[string]int) answer {
	content = strings.TrimSpace(content)
	if content == "" {
		e.m.failures[causeBadJSON].Inc()
		return answer{outcome: outcomeEmpty, why: "the model's reply had no text"}
	}
	js, ok := extractJSON(content)
	if !ok {
		e.m.failures[causeBadJSON].Inc()
		return answer{outcome: outcomeUnusable, why: "no JSON object in the reply: " + e.cl.redact(snippet([]byte(content)))}
	}
	verdicts, entries := parseVerdicts(js, ids)
	switch {
	case entries == 0:
		return answer{verdicts: verdicts, outcome: outcomeEmpty, why: "the model's JSON had no entries: " + e.cl.redact(snippet([]byte(js)))}
	case len(verdicts) == 0:
		return answer{verdicts: verdicts, outcome: outcomeUnusable, why: "no valid entry for any alert asked about: " + e.cl.redact(snippet([]byte(js)))}
	case len(verdicts) < len(ids):
		return answer{verdicts: verdicts, outcome: outcomePartial}
	}
	return answer{verdicts: verdicts, outcome: outcomeOK}
}

// ask sends the batch, retrying what is worth retrying, records usage and
// judges the answer.
func (e *Enricher) ask(ctx context.Context, system, user string, ids map[string]int) (answer, error) {
	plainTried := false
	for attempt := 1; ; attempt++ {
		e.m.requests.Inc()
		start := time.Now()
		cmp, err := e.cl.complete(ctx, system, user)
		e.m.latency.UpdateDuration(start)
		if err == nil {
			e.account(cmp)
			return e.judge(cmp.content, ids), nil
		}
		var ce *callError
		if !errors.As(err, &ce) {
			return answer{}, err // cancelled
		}
		e.m.failures[ce.cause].Inc()
		if ce.status == http.StatusBadRequest && e.cl.jsonMode && !plainTried {
			// Some compatible servers reject response_format: ask once
			// without it, and keep it off if that is what made the difference.
			plainTried = true
			e.cl.jsonMode = false
			attempt--
			continue
		}
		if plainTried && ce.status == http.StatusBadRequest && !e.cl.jsonMode {
			e.cl.jsonMode = true // the 400 was about something else
		}
		if ce.cause == causeAuth {
			e.disable(ce)
			return answer{}, err
		}
		wait := e.backoff(attempt)
		wait = max(wait, ce.retryAfter)
		if !ce.retryable() || attempt >= e.o.MaxAttempts || wait > e.o.MaxRetryWait {
			if ce.retryAfter > 0 {
				e.mu.Lock()
				e.notBefore = e.now().Add(ce.retryAfter)
				e.mu.Unlock()
			}
			return answer{}, err
		}
		e.m.retries.Inc()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return answer{}, fmt.Errorf("cannot get chat completion: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// backoff is RetryBase doubled per attempt, ±20 % jitter so restarts do not retry in step.
func (e *Enricher) backoff(attempt int) time.Duration {
	d := e.o.RetryBase << min(attempt-1, 16)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// account records one response's tokens and cost.
func (e *Enricher) account(c completion) {
	usd := c.costUSD
	if !c.hasCost {
		usd = e.prices[e.o.Model].USD(c.promptTokens, c.completionTokens)
	}
	e.m.promptTokens.Add(int(c.promptTokens))
	e.m.completionTokens.Add(int(c.completionTokens))
	e.m.usd.Add(usd)
	u := Usage{Requests: 1, PromptTokens: c.promptTokens, CompletionTokens: c.completionTokens, USD: usd}
	if err := e.led.record(e.now(), u); err != nil {
		e.log.Warn("cannot persist enrichment usage", "err", err)
	}
}

func (e *Enricher) disable(ce *callError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.authStatus != 0 {
		return
	}
	e.authStatus = ce.status
	e.lastErr = ce.Error()
	e.log.Error("enrichment disabled: the LLM API rejected the key; fix HOLYSHEEP_API_KEY and restart", "status", ce.status, "model", e.o.Model)
}

func (e *Enricher) failed(err error) {
	var ce *callError
	if errors.As(err, &ce) && ce.cause == causeAuth {
		return // disable handled it: the breaker is for transient trouble
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastErr = err.Error()
	e.fails++
	if e.breaker == breakerHalfOpen || (e.breaker == breakerClosed && e.fails >= e.o.BreakerThreshold) {
		e.setBreakerLocked(breakerOpen)
		e.openUntil = now.Add(e.o.BreakerCooldown)
		e.log.Warn("enrichment breaker open: LLM calls paused, rules continue", "failures", e.fails, "cooldown", e.o.BreakerCooldown, "err", e.lastErr)
		return
	}
	// One line a minute at most: an outage must not flood the log.
	if now.Sub(e.lastLog) >= time.Minute {
		e.log.Warn("enrichment request failed, rules read used", "err", e.lastErr, "unlogged", e.quiet)
		e.lastLog, e.quiet = now, 0
	} else {
		e.quiet++
	}
}

func (e *Enricher) succeeded() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.breaker != breakerClosed {
		e.log.Info("enrichment breaker closed: LLM answered again")
	}
	e.fails, e.badRun = 0, 0
	e.setBreakerLocked(breakerClosed)
}

// badAnswer records an answer with nothing usable in it. It counts as a
// failed batch for the breaker: a model that keeps answering emptily costs
// tokens and helps nobody.
func (e *Enricher) badAnswer(why string) {
	e.failed(errors.New("cannot use the model's answer: " + why))
	e.mu.Lock()
	e.badRun++
	e.mu.Unlock()
}

// fallback gives every alert of batch the rules read, saying why.
func (e *Enricher) fallback(batch []item, reason string) {
	for i := range batch {
		e.deliver(rulesAnalysis(&batch[i].ev, &batch[i].cx, e.o.Lang, reason))
	}
}

// deliver hands a to the Sink and stores it for replay.
func (e *Enricher) deliver(a event.Analysis) {
	e.o.Sink.Annotate(a)
	e.m.analyses[a.Source].Inc()
	if a.Source == SourceRules {
		e.m.fallbacks[a.Reason].Inc()
	}
	if e.o.KV == nil {
		return
	}
	if err := SaveAnalysis(e.o.KV, a, e.now()); err != nil {
		e.log.Warn("cannot store analysis", "seq", a.Seq, "err", err)
	}
}
