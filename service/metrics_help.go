package service

import (
	"bytes"
	"io"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// metricSet declares the service's own metrics with their help texts, at
// the declaration; stage histograms (latency.New) carry their help
// themselves.
type metricSet struct {
	*metrics.Set
	help map[string]string // guarded by being filled in New only
}

func newMetricSet() *metricSet { return &metricSet{Set: metrics.NewSet(), help: map[string]string{}} }

func (m *metricSet) counter(name, help string) *metrics.Counter {
	m.help[family(name)] = help
	return m.NewCounter(name)
}

func (m *metricSet) gauge(name, help string, f func() float64) *metrics.Gauge {
	m.help[family(name)] = help
	return m.NewGauge(name, f)
}

// family is a series name without its labels.
func family(name string) string {
	if i := strings.IndexByte(name, '{'); i >= 0 {
		return name[:i]
	}
	return name
}

// subpackageHelp is the # HELP text of the metrics the components below
// the service declare (ingest, ring, pipeline, store, telegram, enrich).
// VictoriaMetrics writes the # HELP line with no text; writeMetricsWithHelp
// fills it in so /metrics explains itself in Prometheus and passes
// `promtool check metrics`. A metric missing here shows up as "no help
// text" in that check (.ci/checks/promtool.sh fails on it) and in
// TestStatusPageAndJSONAPI. Each entry moves next to its declaration once
// its package declares metrics with their help (as pipeline's stage
// histogram does through latency.New), and then this map goes.
var subpackageHelp = map[string]string{

	"liqbox_ingest_frames_total":           "WebSocket frames read, per venue and stream.",
	"liqbox_ingest_bytes_total":            "WebSocket payload bytes read, per venue and stream.",
	"liqbox_ingest_decode_errors_total":    "Frames refused by the decoder, or holding a liquidation it refused (the good ones are kept); logged, rate-limited, with their first bytes.",
	"liqbox_ingest_decode_error_ratio":     "Decode errors per frame handed to the decoder over the last minute (canary frames and pongs excluded).",
	"liqbox_ingest_oversized_frames_total": "Frames larger than the read buffer (the connection is reset).",
	"liqbox_ingest_events_total":           "Liquidations decoded, by venue, stream and liquidated side.",
	"liqbox_ingest_backlog_events_total":   "Events replayed by an exchange snapshot at connect (never alerted).",
	"liqbox_ingest_gap_seconds_total":      "Seconds during which a stream had no live connection; moves only when a gap ends (the current one is liqbox_ingest_gap_open_seconds).",
	"liqbox_ingest_gaps_total":             "Intervals during which a stream had no live connection; moves only when a gap ends.",
	"liqbox_ingest_gap_open_seconds":       "Seconds of the stream's current gap, 0 while a connection is live.",
	"liqbox_ingest_live_connections":       "Connection slots of a stream with a live connection (subscribed and proven by a frame; with a canary, by a canary frame or a liquidation).",
	"liqbox_ingest_reconnects_total":       "Connections lost, replaced or rotated, by cause (stale includes a silent canary; missed_events a redundant connection that kept missing its sibling's liquidations).",
	"liqbox_ingest_canary_frames_total":    "Canary frames read (the steady public stream that proves a subscription alive); dropped before decoding.",
	"liqbox_ingest_sibling_misses_total":   "Liquidations a redundant connection did not deliver although its sibling did (5 in a row replace it).",
	"liqbox_ingest_connects_total":         "Successful connects of a connection slot.",
	"liqbox_ingest_keepalive_rtt_seconds":  "Round-trip time of WebSocket keepalive pings.",
	"liqbox_ingest_connected":              "1 while the connection slot is connected, else 0.",
	"liqbox_ingest_last_frame_age_seconds": "Seconds since the connection slot's last frame (-1 before the first).",
	"liqbox_ingest_venue_errors_total":     "Error messages sent by the venue on the stream.",
	"liqbox_instruments_refresh_total":     "Instrument metadata refreshes over REST, by result.",
	"liqbox_instruments_fallback_total":    "Notionals computed with embedded or stale instrument metadata.",
	"liqbox_instruments_embedded":          "1 while the venue's instrument metadata is the embedded snapshot.",
	"liqbox_instruments":                   "Instruments known for the venue.",

	"liqbox_ring_depth":         "Events waiting in a connection's rings for the pipeline.",
	"liqbox_ring_dropped_total": "Events dropped because a ring was full (the pipeline fell behind).",

	"liqbox_pipeline_events_total":          "Distinct events numbered and handed to the sinks.",
	"liqbox_pipeline_duplicates_total":      "Events dropped as duplicates (dedup hits: redundant connections, reconnect overlaps).",
	"liqbox_pipeline_event_process_seconds": "Time the pipeline goroutine spends on one event across all sinks.",
	"liqbox_pipeline_last_seq":              "Last sequence number assigned.",
	"liqbox_pipeline_ring_depth":            "Events waiting in all rings together.",
	"liqbox_redundancy_wins_total":          "Times a connection delivered an event first while a redundant one delivered it too.",
	"liqbox_redundancy_lead_seconds_total":  "Total lead of the winning connection over the redundant one.",

	"liqbox_stage_receive_to_telegram_seconds": "Local receive to the alert being handed to the Telegram client (includes waiting for a rate-limit slot).",
	"liqbox_stage_telegram_request_seconds":    "Bot API request to Telegram's answer (sendMessage and editMessageText).",
	"liqbox_stage_end_to_end_seconds":          "Exchange event time to Telegram's answer for the alert.",

	"liqbox_store_appended_total":          "Events appended to the log.",
	"liqbox_store_dropped_total":           "Events not logged because the store queue was full.",
	"liqbox_store_batches_total":           "Write transactions committed.",
	"liqbox_store_write_errors_total":      "Write transactions that failed.",
	"liqbox_store_async_dropped_total":     "Queued writes (PutAsync, DeleteAsync, AddGap) refused because the write queue was full.",
	"liqbox_store_bad_records_total":       "Log records skipped by readers because they do not decode.",
	"liqbox_store_redelivered_total":       "Logged events redelivered to a sink after a restart.",
	"liqbox_store_redeliver_skipped_total": "Undelivered events too old to redeliver after a restart.",
	"liqbox_store_retention_deleted_total": "Events deleted by retention.",
	"liqbox_store_batch_events":            "Events per write transaction.",
	"liqbox_store_commit_seconds":          "Duration of one write transaction including fsync.",
	"liqbox_store_queue_depth":             "Events waiting to be written to the log.",
	"liqbox_store_file_bytes":              "Size of the log file.",
	"liqbox_store_last_durable_seq":        "Highest sequence number known durable.",

	"liqbox_telegram_offered_total":             "Events offered to the Telegram sink.",
	"liqbox_telegram_enqueued_total":            "Alerts queued for a chat (one per accepting chat).",
	"liqbox_telegram_dropped_total":             "Alerts or analyses dropped, by reason.",
	"liqbox_telegram_overflow_folded_total":     "Alerts that found their chat's queue full and were counted straight into the cascade digest.",
	"liqbox_telegram_skipped_total":             "Alerts not sent, by reason.",
	"liqbox_telegram_sent_total":                "Messages sent, by kind.",
	"liqbox_telegram_edits_total":               "Messages edited, by kind.",
	"liqbox_telegram_errors_total":              "Failed sends by what the bot did about them.",
	"liqbox_telegram_api_errors_total":          "Failed Bot API requests by error code (5xx folded, network = no answer).",
	"liqbox_telegram_unsubscribed_total":        "Chats unsubscribed by the bot, by reason.",
	"liqbox_telegram_redelivered_total":         "Alerts read back from the log after a restart (not acknowledged by their chat) and sent again, marked as redelivered.",
	"liqbox_telegram_analyses_combined_total":   "Analyses shown in a reply that carries several (sent_total{kind=\"analyses\"} counts those replies).",
	"liqbox_telegram_alert_limit_wait_seconds":  "Time an alert waited for Telegram's limits (the chat's budget, the group and global windows, retry_after) before its request.",
	"liqbox_telegram_refusals_unanswered_total": "Refused commands that got no refusal message (the chat had one within 10 min, or the refusals' budget was spent).",
	"liqbox_telegram_ignored_commands_total":    "Commands ignored because their @suffix names another bot (or this bot's username is not known yet).",
	"liqbox_telegram_refusals_total":            "Commands refused to users outside the allow-list.",
	"liqbox_telegram_queue_depth":               "Alerts waiting for delivery, all chats together.",
	"liqbox_telegram_queue_depth_max":           "Alerts waiting for delivery in the most backed-up chat.",
	"liqbox_telegram_active_chats":              "Chats subscribed to alerts.",
	"liqbox_telegram_chat_queue_depth":          "Alerts waiting for delivery per chat (only with telegram.metrics_chat_labels).",

	"liqbox_enrich_requests_total":           "Chat-completions requests sent.",
	"liqbox_enrich_retries_total":            "Chat-completions requests retried.",
	"liqbox_enrich_dropped_total":            "Alerts dropped because the enrichment queue was full.",
	"liqbox_enrich_below_min_usd_total":      "Alerts below enrich.min_usd (not analysed).",
	"liqbox_enrich_symbol_table_full_total":  "Events not aggregated because the symbol table was full.",
	"liqbox_enrich_batch_size":               "Alerts per chat-completions request.",
	"liqbox_enrich_request_duration_seconds": "Duration of one chat-completions request.",
	"liqbox_enrich_prompt_tokens_total":      "Prompt tokens billed.",
	"liqbox_enrich_completion_tokens_total":  "Completion tokens billed.",
	"liqbox_enrich_spent_usd_total":          "US dollars spent on the LLM API, from the configured prices.",
	"liqbox_enrich_breaker_state":            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
	"liqbox_enrich_failures_total":           "Failed chat-completions requests, by cause.",
	"liqbox_enrich_skipped_batches_total":    "Batches not sent to the LLM, by reason (rule-based read instead).",
	"liqbox_enrich_analyses_total":           "Analyses delivered, by source (llm or rules).",
	"liqbox_enrich_queue_depth":              "Alerts waiting for enrichment.",
	"liqbox_enrich_inflight":                 "Chat-completions requests out now (at most MaxInFlight).",
	"liqbox_enrich_fallbacks_total":          "Rule-based reads given instead of the model's, by reason.",
	"liqbox_enrich_answers_total":            "The model's answers, by outcome: ok, partial, empty, unusable.",
	"liqbox_enrich_late_total":               "Analyses ready after the edit age: stored, not edited into the alert.",
	"liqbox_enrich_reused_total":             "Redelivered alerts given the analysis stored before a restart.",
	"liqbox_enrich_store_errors_total":       "Analyses that could not be stored (they are analysed again after a restart).",
	"liqbox_enrich_analysis_delay_seconds":   "Alert received to its analysis handed to Telegram.",

	"liqbox_bus_connected":                     "1 while the NATS connection is up, else 0.",
	"liqbox_bus_disconnects_total":             "NATS connections lost.",
	"liqbox_bus_published_total":               "Messages JetStream acknowledged, by kind (event, gap).",
	"liqbox_bus_publish_duplicates_total":      "Published events JetStream already had (a retry within its duplicate window): stored once.",
	"liqbox_bus_publish_errors_total":          "Publishing sessions ended by an error (the bus lost, no acknowledgement); publishing resumes from the checkpoint.",
	"liqbox_bus_publish_inflight":              "Events published and awaiting JetStream's acknowledgement.",
	"liqbox_bus_publish_lag_events":            "Events the log committed that JetStream has not yet acknowledged.",
	"liqbox_bus_publish_lag_seconds":           "Age of the oldest committed event JetStream has not yet acknowledged (0 when none).",
	"liqbox_bus_consumed_total":                "Messages taken from the bus, by kind (event, gap, own: this box's, skipped).",
	"liqbox_bus_consume_bad_total":             "Bus messages refused because they do not decode (logged, rate-limited, and acknowledged).",
	"liqbox_bus_consume_backlog_total":         "Remote events that arrived later than bus.alert_max_age after their edge box received them: logged, never alerted.",
	"liqbox_bus_consume_lost_total":            "Stream messages dropped by its limits (max_age, max_bytes) before this box read them.",
	"liqbox_bus_consume_restamped_total":       "Remote events too far behind the log's newest to keep their receive time: logged at the log's order limit.",
	"liqbox_bus_consume_clock_ahead_total":     "Remote events stamped ahead of this box's clock (the edge box's clock is off): logged as received now.",
	"liqbox_bus_consume_ring_waits_total":      "Times the consumer waited for room in its ring (the pipeline behind; the stream holds the rest).",
	"liqbox_bus_consumer_pending":              "Messages in the stream not yet delivered to this box's durable consumer.",
	"liqbox_bus_consumer_ack_pending":          "Messages delivered to this box and not yet committed to its log and acknowledged.",
	"liqbox_bus_consumer_lag_seconds":          "Age of the newest remote event taken while messages wait (0 when none waits).",
	"liqbox_bus_consumer_up":                   "1 while the stream answers this box's consumer, else 0 (remote streams blind).",
	"liqbox_bus_remote_last_event_age_seconds": "Age, by this box's clock, of the newest event a remote box published (-1 before one).",
	"liqbox_bus_remote_events_total":           "Events taken from a remote box.",
}

// writeMetricsWithHelp copies a Prometheus exposition from src to w,
// filling each empty # HELP line from the service's declarations, then
// subpackageHelp (Go runtime and process metrics get a pointer to where
// they are defined).
func (m *metricSet) writeMetricsWithHelp(w io.Writer, src []byte) error {
	out := make([]byte, 0, len(src)+len(src)/4)
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		if name, ok := bytes.CutPrefix(line, []byte("# TYPE process_")); ok && bytes.HasSuffix(name, []byte("_total gauge")) {
			// The library types its cumulative /proc I/O counts as gauges;
			// they only ever grow, so rate() is what an operator wants.
			out = append(out, "# TYPE process_"...)
			out = append(out, name[:len(name)-len("gauge")]...)
			out = append(out, "counter\n"...)
			continue
		}
		out = append(out, line...)
		if name, ok := bytes.CutPrefix(line, []byte("# HELP ")); ok && bytes.IndexByte(name, ' ') < 0 {
			if h := m.helpFor(string(name)); h != "" {
				out = append(out, ' ')
				out = append(out, h...)
			}
		}
		out = append(out, '\n')
	}
	_, err := w.Write(out)
	return err
}

func (m *metricSet) helpFor(name string) string {
	if h, ok := m.help[name]; ok {
		return h
	}
	if h, ok := subpackageHelp[name]; ok {
		return h
	}
	switch {
	case strings.HasPrefix(name, "go_"):
		return "Go runtime metric (runtime/metrics, written by VictoriaMetrics/metrics)."
	case strings.HasPrefix(name, "process_"):
		return "Process metric from /proc (written by VictoriaMetrics/metrics)."
	}
	return ""
}
