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
	// FallbackReason says why the rules were used instead of the model
	// when Source is "rules": a short code such as "off", "breaker_open",
	// "over_budget", "rate_limited", "auth_failed", "request_failed",
	// "empty_answer" or "unusable_answer", which the renderer translates
	// (an unknown code is shown as it is). Empty when no reason is known.
	FallbackReason string
}
