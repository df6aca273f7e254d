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

}

// describeSubpackages gives set the help texts of subpackageHelp.
func describeSubpackages(set *metrics.Set) {
	for name, help := range subpackageHelp {
		metricdoc.Describe(set, name, help)
	}
}
