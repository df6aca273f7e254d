package service

import (
	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/metricdoc"
)

// subpackageHelp is the # HELP text of the metrics the components below
// the service declare (ingest, ring, pipeline, store, telegram, enrich)
// without it. Each entry moves next to its declaration (metricdoc) as its
// package declares its metrics with their help, and then this map goes.
var subpackageHelp = map[string]string{

	"liqbox_stage_receive_to_telegram_seconds": "Local receive to the alert being handed to the Telegram client (includes waiting for a rate-limit slot).",
	"liqbox_stage_telegram_request_seconds":    "Bot API request to Telegram's answer (sendMessage and editMessageText).",
	"liqbox_stage_end_to_end_seconds":          "Exchange event time to Telegram's answer for the alert.",

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
}

// describeSubpackages gives set the help texts of subpackageHelp.
func describeSubpackages(set *metrics.Set) {
	for name, help := range subpackageHelp {
		metricdoc.Describe(set, name, help)
	}
}
