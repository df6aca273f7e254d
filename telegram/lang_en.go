package telegram

import "github.com/liqbox/liqbox/event"

func init() {
	register(&texts{
		Code:          "en",
		Name:          "English",
		Liquidated:    [3]string{"UNKNOWN liquidated", "LONG liquidated", "SHORT liquidated"},
		Sides:         [3]string{"UNKNOWN", "LONG", "SHORT"},
		UnknownUSD:    "unknown",
		At:            "at",
		TimeLabel:     "time",
		OnBoxLabel:    "on-box",
		MuteButton:    "Mute %s 1h",
		ChartButton:   "Chart",
		DigestTitle:   "Cascade: %d liquidations",
		DigestLongs:   "Longs liquidated",
		DigestShorts:  "Shorts liquidated",
		DigestLargest: "Largest",
		DigestSpan:    "Span",
		DigestOpen:    "still going, updated every second",
		AnalysisLLM:   "Analysis (model %s)",
		AnalysisRules: "Analysis (rules, no model)",
		Reasons: map[string]string{
			event.ReasonDisabled:    "the model is off",
			event.ReasonKeyRejected: "the model's API refused the key",
			event.ReasonBudget:      "the model's token or cost cap is reached",
			event.ReasonRateLimited: "the model's API asked to wait",
			event.ReasonCircuitOpen: "the model failed repeatedly and is paused",
			event.ReasonUnavailable: "the model did not answer",
			event.ReasonEmpty:       "the model answered with nothing",
			event.ReasonUnusable:    "the model's answer was unusable",
			event.ReasonBacklog:     "the model was busy with newer alerts",
			event.ReasonShutdown:    "the box stopped before the model answered",
		},
		Risk:          [4]string{"risk unknown", "risk LOW", "risk MEDIUM", "risk HIGH"},
		Recommend:     "Recommendation",
		AnalysesTitle: "Analyses of the last %d alerts",
		Replayed:      "Redelivered after a restart",
		Late:          "%s late",
		ReplayedLog:   "Replayed from the log",
		Ago:           "%s ago",
		LimitWait:     "waited for Telegram's limit",
		DigestReplays: "%d of them replayed from the log",
		UnitSec:       "s",
		UnitMin:       "min",
		UnitHour:      "h",

		Help: `<b>liqbox</b> alerts large liquidations.
/start — subscribe this chat
/stop — unsubscribe
/setthreshold 250k — minimum USD (also 250000, 1.5m, $2M)
/symbols — show filter; /symbols BTCUSDT ETH — set (ETH matches all ETH markets); /symbols all — clear
/side long|short|both
/venues — show; /venues binance-usdm bybit — set; /venues all — clear
/mute BTCUSDT 1h — /unmute BTCUSDT — /mutes
/stats [1h|24h|7d] — counts, volume, latency
/top [1h|24h|7d] — largest liquidations
/chart [1h|24h] [SYMBOL] — liquidated USD chart
/status — venues, ring, disk, enrichment, version
/cost — LLM spend
/lang en|vi — language`,
		Started:        "Subscribed. Alerts from %s.",
		Stopped:        "Unsubscribed. /start to resume.",
		NotAllowed:     "Not allowed.",
		UnknownCmd:     "Unknown command. /help lists them.",
		ThresholdSet:   "Threshold set to %s.",
		ThresholdUsage: "Usage: /setthreshold 250k (also 250000, 1.5m, $2M; from $1 to $10B)",
		SymbolsAll:     "Symbols: all.",
		SymbolsShow:    "Symbols: %s.",
		SymbolsUsage:   "Usage: /symbols BTCUSDT ETH, or /symbols all",
		SideSet:        "Sides: %s.",
		SideUsage:      "Usage: /side long|short|both",
		VenuesAll:      "Venues: all.",
		VenuesShow:     "Venues: %s.",
		VenuesUsage:    "Usage: /venues %s, or /venues all",
		MuteSet:        "%s muted until %s.",
		MuteUsage:      "Usage: /mute BTCUSDT 1h (30m, 2h, 1d; at most 30d)",
		Unmuted:        "%s unmuted.",
		NotMuted:       "%s was not muted.",
		MutesNone:      "No mutes.",
		MutesHeader:    "Muted:",
		StatsUsage:     "Usage: /stats [1h|24h|7d]",
		StatsTitle:     "Stats, last %s",
		StatsNone:      "No liquidations in that window.",
		StatsLatency:   "Latency",
		StatsColumns:   "avg/p50/p95/p99/max",
		StatsExchBox:   "exchange→box",
		StatsBoxTG:     "box→Telegram",
		StatsLongs:     "longs",
		StatsShorts:    "shorts",
		TopUsage:       "Usage: /top [1h|24h|7d]",
		TopTitle:       "Largest liquidations, last %s",
		ChartUsage:     "Usage: /chart [1h|24h] [SYMBOL]",
		ChartCaption:   "Liquidated USD, last %s, %s",
		ChartAll:       "all symbols",
		NoHistory:      "The event log is not available.",
		NoStatus:       "Status is not available.",
		NoCost:         "Cost accounting is not available.",
		LangSet:        "Language: English.",
		LangUsage:      "Usage: /lang %s",
		StatusTitle:    "Status",
		StatusVenue:    "%s: %d/%d connections, last frame %s ago, %d gaps in 24 h",
		StatusNoFrame:  "%s: %d/%d connections, no frame yet, %d gaps in 24 h",
		StatusBlind:    "⚠️ %s %s blind since %s UTC, %s so far (%s)",
		StatusDecode:   "⚠️ %s %s: %d of %d frames failed to decode in the last minute (%.1f %%)",
		StatusSource:   "⚡ %s relay race: direct first %d (lead p50 %s, p99 %s), relay first %d (p50 %s, p99 %s); disagreed side %d, usd %d, price %d",
		StatusRing:     "Ring: %d/%d, %d dropped",
		StatusDisk:     "Disk: %s used, limit %s",
		StatusEnrich:   "Enrichment: %s",
		StatusClock:    "Clock offset vs exchanges: %s (bound %s)",
		StatusClockBad: "⚠️ Clock offset vs exchanges: %s, over the %s bound: exchange→box latency is not to be trusted; check NTP",
		StatusVersion:  "Version %s, up %s",
		CallbackMuted:  "%s muted for 1h",
		CallbackBad:    "Unknown button.",
		Failed:         "Sorry, that failed. Try again later.",
	})
}
