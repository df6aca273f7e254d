package enrich

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
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
		requests:         s.NewCounter("liqbox_enrich_requests_total"),
		retries:          s.NewCounter("liqbox_enrich_retries_total"),
		dropped:          s.NewCounter("liqbox_enrich_dropped_total"),
		belowMin:         s.NewCounter("liqbox_enrich_below_min_usd_total"),
		symOverflow:      s.NewCounter("liqbox_enrich_symbol_table_full_total"),
		failures:         make(map[string]*metrics.Counter, len(allCauses)),
		skipped:          make(map[string]*metrics.Counter),
		analyses:         make(map[string]*metrics.Counter),
		fallbacks:        make(map[string]*metrics.Counter),
		answers:          make(map[string]*metrics.Counter, len(allOutcomes)),
		late:             s.NewCounter("liqbox_enrich_late_total"),
		reused:           s.NewCounter("liqbox_enrich_reused_total"),
		storeErrors:      s.NewCounter("liqbox_enrich_store_errors_total"),
		delay:            s.NewPrometheusHistogramExt("liqbox_enrich_analysis_delay_seconds", []float64{0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120}),
		batchSize:        s.NewPrometheusHistogramExt("liqbox_enrich_batch_size", []float64{1, 2, 4, 8, 16, 32, 64, 128}),
		latency:          s.NewPrometheusHistogramExt("liqbox_enrich_request_duration_seconds", []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64}),
		promptTokens:     s.NewCounter("liqbox_enrich_prompt_tokens_total"),
		completionTokens: s.NewCounter("liqbox_enrich_completion_tokens_total"),
		usd:              s.NewFloatCounter("liqbox_enrich_spent_usd_total"),
		breaker:          s.NewGauge("liqbox_enrich_breaker_state", nil),
		cascades:         s.NewCounter("liqbox_enrich_cascades_total"),
		cascadesDropped:  s.NewCounter("liqbox_enrich_cascades_dropped_total"),
	}
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
	s.NewGauge("liqbox_enrich_queue_depth", func() float64 { return float64(queueDepth()) })
	s.NewGauge("liqbox_enrich_inflight", func() float64 { return float64(inflight()) })
	return m
}
