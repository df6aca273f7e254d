package enrich

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/metricdoc"
)

// allReasons are the reasons a rules read can give (event.Reason*).
var allReasons = [...]string{event.ReasonDisabled, event.ReasonKeyRejected, event.ReasonBudget, event.ReasonRateLimited,
	event.ReasonCircuitOpen, event.ReasonUnavailable, event.ReasonEmpty, event.ReasonUnusable, event.ReasonBacklog, event.ReasonShutdown}

// enrichMetrics are declared once in New; nothing is looked up per event.
type enrichMetrics struct {
	requests         *metrics.Counter
	retries          *metrics.Counter
	dropped          *metrics.Counter
	belowMin         *metrics.Counter
	symOverflow      *metrics.Counter
	failures         map[string]*metrics.Counter // by cause; read-only after New
	skipped          map[string]*metrics.Counter // batches answered by rules without a request, by reason
	analyses         map[string]*metrics.Counter // by source
	fallbacks        map[string]*metrics.Counter // rules reads, by event.Reason*
	answers          map[string]*metrics.Counter // the model's answers, by outcome
	late             *metrics.Counter
	reused           *metrics.Counter
	storeErrors      *metrics.Counter
	delay            *metrics.PrometheusHistogram
	batchSize        *metrics.PrometheusHistogram
	latency          *metrics.PrometheusHistogram
	promptTokens     *metrics.Counter
	completionTokens *metrics.Counter
	usd              *metrics.FloatCounter
	breaker          *metrics.Gauge
	cascades         *metrics.Counter
	cascadesDropped  *metrics.Counter
}

func newEnrichMetrics(s *metrics.Set, queueDepth, inflight func() int) *enrichMetrics {
	m := &enrichMetrics{
		requests:         metricdoc.Counter(s, "liqbox_enrich_requests_total", "Chat-completions requests sent."),
		retries:          metricdoc.Counter(s, "liqbox_enrich_retries_total", "Chat-completions requests retried."),
		dropped:          metricdoc.Counter(s, "liqbox_enrich_dropped_total", "Alerts dropped because the enrichment queue was full."),
		belowMin:         metricdoc.Counter(s, "liqbox_enrich_below_min_usd_total", "Alerts below enrich.min_usd (not analysed)."),
		symOverflow:      metricdoc.Counter(s, "liqbox_enrich_symbol_table_full_total", "Events not aggregated because the symbol table was full."),
		failures:         make(map[string]*metrics.Counter, len(allCauses)),
		skipped:          make(map[string]*metrics.Counter),
		analyses:         make(map[string]*metrics.Counter),
		fallbacks:        make(map[string]*metrics.Counter),
		answers:          make(map[string]*metrics.Counter, len(allOutcomes)),
		late:             metricdoc.Counter(s, "liqbox_enrich_late_total", "Analyses ready after the edit age: stored, not edited into the alert."),
		reused:           metricdoc.Counter(s, "liqbox_enrich_reused_total", "Redelivered alerts given the analysis stored before a restart."),
		storeErrors:      metricdoc.Counter(s, "liqbox_enrich_store_errors_total", "Analyses that could not be stored (they are analysed again after a restart)."),
		delay:            metricdoc.Histogram(s, "liqbox_enrich_analysis_delay_seconds", "Alert received to its analysis handed to Telegram.", []float64{0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120}),
		batchSize:        metricdoc.Histogram(s, "liqbox_enrich_batch_size", "Alerts per chat-completions request.", []float64{1, 2, 4, 8, 16, 32, 64, 128}),
		latency:          metricdoc.Histogram(s, "liqbox_enrich_request_duration_seconds", "Duration of one chat-completions request.", []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64}),
		promptTokens:     metricdoc.Counter(s, "liqbox_enrich_prompt_tokens_total", "Prompt tokens billed."),
		completionTokens: metricdoc.Counter(s, "liqbox_enrich_completion_tokens_total", "Completion tokens billed."),
		usd:              metricdoc.FloatCounter(s, "liqbox_enrich_spent_usd_total", "US dollars spent on the LLM API, from the configured prices."),
		breaker:          metricdoc.Gauge(s, "liqbox_enrich_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open.", nil),
		cascades:         metricdoc.Counter(s, "liqbox_enrich_cascades_total", "Cascades queued for the model's read (one request each)."),
		cascadesDropped:  metricdoc.Counter(s, "liqbox_enrich_cascades_dropped_total", "Cascades not analysed because their queue was full."),
	}
	metricdoc.Describe(s, "liqbox_enrich_failures_total", "Failed chat-completions requests, by cause.")
	metricdoc.Describe(s, "liqbox_enrich_skipped_batches_total", "Batches not sent to the LLM, by reason (rule-based read instead).")
	metricdoc.Describe(s, "liqbox_enrich_analyses_total", "Analyses delivered, by source (llm or rules).")
	metricdoc.Describe(s, "liqbox_enrich_fallbacks_total", "Rule-based reads given instead of the model's, by reason.")
	metricdoc.Describe(s, "liqbox_enrich_answers_total", "The model's answers, by outcome: ok, partial, empty, unusable.")
	for _, c := range allCauses {
		m.failures[c] = s.NewCounter(`liqbox_enrich_failures_total{cause="` + c + `"}`)
	}
	for _, r := range [...]string{skipOff, skipAuth, skipBudget, skipRateLimited, skipBreaker, skipShutdown} {
		m.skipped[r] = s.NewCounter(`liqbox_enrich_skipped_batches_total{reason="` + r + `"}`)
	}
	for _, src := range [...]string{SourceLLM, SourceRules} {
		m.analyses[src] = s.NewCounter(`liqbox_enrich_analyses_total{source="` + src + `"}`)
	}
	for _, r := range allReasons {
		m.fallbacks[r] = s.NewCounter(`liqbox_enrich_fallbacks_total{reason="` + r + `"}`)
	}
	for _, o := range allOutcomes {
		m.answers[o] = s.NewCounter(`liqbox_enrich_answers_total{outcome="` + o + `"}`)
	}
	metricdoc.Gauge(s, "liqbox_enrich_queue_depth", "Alerts waiting for enrichment.", func() float64 { return float64(queueDepth()) })
	metricdoc.Gauge(s, "liqbox_enrich_inflight", "Chat-completions requests out now (at most MaxInFlight).", func() float64 { return float64(inflight()) })
	return m
}
