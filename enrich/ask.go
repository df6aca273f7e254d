package enrich

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/retry"
)

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

// gate says why no request may go out now, or "" when one may. With take
// the caller sends a request if the answer is "": an open breaker whose
// cool-down has passed then turns half-open and that request is its one
// probe. Without take nothing changes.
func (e *Enricher) gate(now time.Time, take bool) string {
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
		if take {
			e.setBreakerLocked(breakerHalfOpen)
			e.probing = true
		}
	case e.breaker == breakerHalfOpen && e.probing:
		return skipBreaker // one probe at a time
	}
	return ""
}

func (e *Enricher) setBreakerLocked(s breakerState) {
	e.breaker = s
	e.m.breaker.Set(float64(s))
}

// process answers one batch the gate let through: from the model when it
// answers well within ctx, else from the rules. run is Run's context: when
// it has ended and an Acker will have the log redeliver the batch, nothing
// is delivered and every alert is noted pending.
func (e *Enricher) process(run, ctx context.Context, batch []item, p *pending) {
	e.m.batchSize.Update(float64(len(batch)))
	system, user, ids := e.prompt(batch)
	ans, err := e.ask(ctx, system, user, ids)
	if err != nil {
		if run.Err() != nil && e.o.Acker != nil {
			// Stopping: the log redelivers the batch after the restart.
			e.endProbe()
			for i := range batch {
				p.note(false, batch[i].ev.Seq)
			}
			return
		}
		p.note(false, e.fallback(batch, e.failure(run, err)))
		return
	}
	missing := e.answered(&ans)
	for i := range batch {
		it := &batch[i]
		v, ok := ans.verdicts[i]
		if !ok {
			p.note(e.deliver(rulesAnalysis(&it.ev, &it.cx, e.o.Lang, missing), it, true), it.ev.Seq)
			continue
		}
		p.note(e.deliver(event.Analysis{
			Seq: it.ev.Seq, Risk: v.risk, Summary: v.summary, Recommendation: v.recommendation,
			Source: SourceLLM, Model: e.o.Model, Lang: e.o.Lang,
		}, it, true), it.ev.Seq)
	}
}

// failure handles a request that got no answer: it ends a probe the
// shutdown cancelled, or counts the failure for the breaker, and returns
// why the rules read stands in.
func (e *Enricher) failure(run context.Context, err error) string {
	var ce *callError
	reason := event.ReasonUnavailable
	switch {
	case run.Err() != nil:
		e.endProbe()
		return event.ReasonShutdown
	case errors.As(err, &ce) && ce.cause == causeAuth:
		reason = event.ReasonKeyRejected
	case errors.As(err, &ce) && ce.cause == causeRateLimited:
		reason = event.ReasonRateLimited
	}
	e.failed(err)
	return reason
}

// answered counts an answer's outcome, tells the breaker what it was
// worth, and returns the reason the rules read gives an entry missing
// from it.
func (e *Enricher) answered(ans *reply) (missing string) {
	e.m.answers[ans.outcome].Inc()
	switch ans.outcome {
	case outcomeEmpty:
		e.badAnswer(ans.why)
		return event.ReasonEmpty
	case outcomeUnusable:
		e.badAnswer(ans.why)
	default:
		e.succeeded()
	}
	return event.ReasonUnusable
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

// reply is what one answer of the model gave for a batch.
type reply struct {
	verdicts map[int]verdict // by batch index
	outcome  string
	why      string // for empty and unusable: what was wrong, for the log and /status
}

// judge validates the model's text for a batch of n alerts.
func (e *Enricher) judge(content string, ids map[string]int) reply {
	content = strings.TrimSpace(content)
	if content == "" {
		e.m.failures[causeBadJSON].Inc()
		return reply{outcome: outcomeEmpty, why: "the model's reply had no text"}
	}
	js, ok := extractJSON(content)
	if !ok {
		e.m.failures[causeBadJSON].Inc()
		return reply{outcome: outcomeUnusable, why: "no JSON object in the reply: " + snippet(e.cl.redact(content))}
	}
	verdicts, entries := parseVerdicts(js, ids)
	switch {
	case entries == 0:
		return reply{verdicts: verdicts, outcome: outcomeEmpty, why: "the model's JSON had no entries: " + snippet(e.cl.redact(js))}
	case len(verdicts) == 0:
		return reply{verdicts: verdicts, outcome: outcomeUnusable, why: "no valid entry for any alert asked about: " + snippet(e.cl.redact(js))}
	case len(verdicts) < len(ids):
		return reply{verdicts: verdicts, outcome: outcomePartial}
	}
	return reply{verdicts: verdicts, outcome: outcomeOK}
}

// ask sends the batch, retrying what is worth retrying, records usage and
// judges the answer.
func (e *Enricher) ask(ctx context.Context, system, user string, ids map[string]int) (reply, error) {
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
			return reply{}, err // cancelled
		}
		e.m.failures[ce.cause].Inc()
		if ce.status == http.StatusBadRequest && !e.cl.plain.Load() && !plainTried {
			// Some compatible servers reject response_format: ask once
			// without it, and keep it off if that is what made the difference.
			plainTried = true
			e.cl.plain.Store(true)
			attempt--
			continue
		}
		if plainTried && ce.status == http.StatusBadRequest && e.cl.plain.Load() {
			e.cl.plain.Store(false) // the 400 was about something else
		}
		if ce.cause == causeAuth {
			e.disable(ce)
			return reply{}, err
		}
		wait := e.backoff(attempt)
		wait = max(wait, ce.retryAfter)
		if !ce.retryable() || attempt >= e.o.MaxAttempts || wait > e.o.MaxRetryWait || !leaves(ctx, wait) {
			if ce.retryAfter > 0 {
				e.mu.Lock()
				e.notBefore = e.now().Add(ce.retryAfter)
				e.mu.Unlock()
			}
			return reply{}, err
		}
		e.m.retries.Inc()
		if !retry.Sleep(ctx, wait) {
			return reply{}, fmt.Errorf("cannot get chat completion: %w", ctx.Err())
		}
	}
}

// leaves reports whether ctx has more than d left: a retry that cannot
// finish before the batch's edit deadline is not worth its tokens.
func leaves(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || time.Until(dl) > d
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
	e.probing = false
	if e.breaker == breakerHalfOpen || (e.breaker == breakerClosed && e.fails >= e.o.BreakerThreshold) {
		e.setBreakerLocked(breakerOpen)
		e.openUntil = now.Add(e.o.BreakerCooldown)
		e.log.Warn("enrichment breaker open: LLM calls paused, rules continue", "failures", e.fails, "cooldown", e.o.BreakerCooldown, "err", e.lastErr)
		return
	}
	// One line a minute at most: an outage must not flood the log.
	if n, ok := e.failLog.Allow(now); ok {
		e.log.Warn("enrichment request failed, rules read used", "err", e.lastErr, "unlogged", n)
	}
}

func (e *Enricher) succeeded() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.breaker != breakerClosed {
		e.log.Info("enrichment breaker closed: LLM answered again")
	}
	e.fails, e.badRun = 0, 0
	e.probing = false
	e.setBreakerLocked(breakerClosed)
}

// endProbe forgets a probe that shutdown cancelled before it was answered.
func (e *Enricher) endProbe() {
	e.mu.Lock()
	e.probing = false
	e.mu.Unlock()
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

// fallback gives every alert of batch the rules read, saying why, and
// returns the lowest seq whose analysis could not be stored (0 if none).
func (e *Enricher) fallback(batch []item, reason string) uint64 {
	var p pending
	for i := range batch {
		it := &batch[i]
		p.note(e.deliver(rulesAnalysis(&it.ev, &it.cx, e.o.Lang, reason), it, true), it.ev.Seq)
	}
	return p.seq
}

// deliver hands a, the analysis of it, to the Sink, then (with save)
// stores it, and reports whether it is durable. It marks a Late when it
// comes more than EditMaxAge after its alert was received. Sinks get one
// Annotate at a time, whichever goroutine delivers.
func (e *Enricher) deliver(a event.Analysis, it *item, save bool) bool {
	now := e.now()
	age := time.Duration(0)
	if it.ev.RecvNs > 0 {
		age = now.Sub(time.Unix(0, it.ev.RecvNs))
	}
	a.Late = age > e.o.EditMaxAge
	e.dmu.Lock()
	e.o.Sink.Annotate(a)
	e.dmu.Unlock()
	e.m.analyses[a.Source].Inc()
	if a.Source == SourceRules {
		e.m.fallbacks[a.Reason].Inc()
	}
	if a.Late {
		e.m.late.Inc()
	}
	e.m.delay.Update(max(age, 0).Seconds())
	if e.o.KV == nil || !save {
		return true
	}
	if err := SaveAnalysis(e.o.KV, a, now); err != nil {
		e.m.storeErrors.Inc()
		e.log.Warn("cannot store analysis; it is analysed again after a restart", "seq", a.Seq, "err", err)
		return false
	}
	return true
}
