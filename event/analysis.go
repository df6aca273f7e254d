package event

// Risk is the risk level of an analysis.
type Risk uint8

// Risk levels, ordered. Persisted: append only.
const (
	RiskUnknown Risk = iota
	RiskLow
	RiskMedium
	RiskHigh
)

// String returns "LOW", "MEDIUM", "HIGH" or "UNKNOWN".
func (r Risk) String() string {
	switch r {
	case RiskLow:
		return "LOW"
	case RiskMedium:
		return "MEDIUM"
	case RiskHigh:
		return "HIGH"
	}
	return "UNKNOWN"
}

// ParseRisk maps "LOW", "MEDIUM", "HIGH" (any case) to a Risk.
func ParseRisk(s string) (Risk, bool) {
	switch {
	case equalFold(s, "LOW"):
		return RiskLow, true
	case equalFold(s, "MEDIUM"):
		return RiskMedium, true
	case equalFold(s, "HIGH"):
		return RiskHigh, true
	}
	return RiskUnknown, false
}

func equalFold(s, upper string) bool {
	if len(s) != len(upper) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// Why the rules read stands in for the model's: Analysis.Reason. They are
// stored with the analysis, so append only; each renderer words them in its
// own languages.
const (
	ReasonDisabled    = "disabled"          // LLM analysis is off in the config, or has no API key
	ReasonKeyRejected = "key_rejected"      // the API refused the key: off until restart
	ReasonBudget      = "budget_exhausted"  // a daily token or monthly USD cap is reached
	ReasonRateLimited = "rate_limited"      // the API asked for a pause (a long Retry-After)
	ReasonCircuitOpen = "circuit_open"      // repeated failures: calls paused for a cool-down
	ReasonUnavailable = "model_unavailable" // the request failed: timeout, network, 5xx, not the API
	ReasonEmpty       = "empty_answer"      // the model answered, with no analysis at all
	ReasonUnusable    = "unusable_answer"   // the model's answer held no valid entry for this alert
	ReasonBacklog     = "backlog"           // already too old for an edit while newer alerts had the model
	ReasonShutdown    = "shutdown"          // the service stopped before the model answered
)

// Text is an analysis's words in one language.
type Text struct {
	Lang           string
	Summary        string
	Recommendation string
}

// Analysis is the risk read that follows an alert. It is produced off the
// hot path (by the LLM or by the rule-based fallback), so it may hold strings.
// Summary and Recommendation are plain text: whoever renders them escapes.
type Analysis struct {
	Seq            uint64 // the alert's event sequence number
	Risk           Risk
	Summary        string
	Recommendation string
	Source         string // "llm" or "rules": never let one pass for the other
	Model          string // model name when Source is "llm"
	Lang           string // language the text is written in, e.g. "en", "vi"
	// Reason says why the rules read was used (one of the Reason
	// constants); empty when Source is "llm".
	Reason string
	// Late marks an analysis that was ready more than the edit age after
	// its alert was received: it is kept in the log, where replay, /top
	// and the page show it, but the alert is not edited with it.
	Late bool
	// Alt holds the same read in other languages when its source can
	// write them: the rules read comes in every language liqbox speaks,
	// the model's only in Lang.
	Alt []Text
}

// In returns the analysis's words in lang when it has them, else in its
// own language.
func (a *Analysis) In(lang string) Text {
	if lang != a.Lang {
		for _, t := range a.Alt {
			if t.Lang == lang {
				return t
			}
		}
	}
	return Text{Lang: a.Lang, Summary: a.Summary, Recommendation: a.Recommendation}
}
