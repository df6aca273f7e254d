package enrich

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// Limits on what the model's text may put into an alert.
const (
	maxSummaryRunes        = 200
	maxRecommendationRunes = 200
)

// completion is the part of a chat-completions response enrichment uses.
type completion struct {
	content          string
	promptTokens     int64
	completionTokens int64
	costUSD          float64
	hasCost          bool
}

// parseEnvelope reads a chat-completions response body.
func parseEnvelope(body []byte) (completion, bool) {
	if !gjson.ValidBytes(body) {
		return completion{}, false
	}
	r := gjson.ParseBytes(body)
	var c completion
	u := r.Get("usage")
	c.promptTokens = u.Get("prompt_tokens").Int()
	c.completionTokens = u.Get("completion_tokens").Int()
	if cost := u.Get("cost_usd"); cost.Type == gjson.Number && cost.Float() >= 0 {
		c.costUSD, c.hasCost = cost.Float(), true
	}
	msg := r.Get("choices.0.message.content")
	switch {
	case msg.Type == gjson.String:
		c.content = msg.String()
	case msg.IsObject() || msg.IsArray():
		// Some compatible servers hand back structured output as JSON rather than a string.
		c.content = msg.Raw
	default:
		return c, false
	}
	return c, true
}

// extractJSON finds the JSON object in a model's reply: the whole reply, a
// fenced code block, or the first balanced {...} in prose that parses.
func extractJSON(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if (strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")) && gjson.Valid(s) {
		return s, true
	}
	rest := s
	for {
		i := strings.Index(rest, "```")
		if i < 0 {
			break
		}
		body := rest[i+3:]
		if nl := strings.IndexByte(body, '\n'); nl >= 0 && !strings.ContainsAny(body[:nl], "{[") {
			body = body[nl+1:] // skip the language tag, e.g. ```json
		}
		j := strings.Index(body, "```")
		if j < 0 {
			break
		}
		if c := strings.TrimSpace(body[:j]); gjson.Valid(c) && c != "" {
			return c, true
		}
		rest = body[j+3:]
	}
	// Try each '{' in turn, up to a bound so a hostile reply cannot make this quadratic for long.
	for tries, off := 0, 0; tries < 64; tries++ {
		i := strings.IndexByte(s[off:], '{')
		if i < 0 {
			break
		}
		start := off + i
		if end, ok := balancedEnd(s, start); ok {
			if c := s[start:end]; gjson.Valid(c) {
				return c, true
			}
		}
		off = start + 1
	}
	return "", false
}

// balancedEnd returns the index just past the brace that closes the one at
// s[start], skipping braces inside JSON strings.
func balancedEnd(s string, start int) (int, bool) {
	depth, inStr, esc := 0, false, false
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case inStr:
			if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
	}
	return 0, false
}

// verdict is one validated entry of the model's answer.
type verdict struct {
	risk           event.Risk
	summary        string
	recommendation string
}

// parseVerdicts validates the model's JSON against the ids that were asked
// about, and counts the entries it found (valid or not). Unknown ids are
// ignored; an entry with a bad risk level or empty text is left out so its
// alert falls back to the rules; the first entry for an id wins.
func parseVerdicts(js string, ids map[string]int) (verdicts map[int]verdict, entries int) {
	out := make(map[int]verdict, len(ids))
	take := func(id string, e gjson.Result) {
		if !e.IsObject() {
			return
		}
		entries++
		idx, ok := ids[id]
		if !ok {
			return
		}
		if _, dup := out[idx]; dup {
			return
		}
		risk, ok := event.ParseRisk(strings.TrimSpace(e.Get("risk_level").String()))
		if !ok {
			return
		}
		v := verdict{
			risk:           risk,
			summary:        cleanText(e.Get("summary").String(), maxSummaryRunes),
			recommendation: cleanText(e.Get("recommendation").String(), maxRecommendationRunes),
		}
		if v.summary == "" || v.recommendation == "" {
			return
		}
		out[idx] = v
	}
	idOf := func(e gjson.Result) string {
		id := e.Get("id")
		if !id.Exists() {
			id = e.Get("alert_id")
		}
		return strings.TrimSpace(id.String())
	}
	root := gjson.Parse(js)
	var list gjson.Result
	switch {
	case root.IsArray():
		list = root
	case root.Get("alerts").IsArray():
		list = root.Get("alerts")
	case root.Get("analyses").IsArray():
		list = root.Get("analyses")
	case root.Get("results").IsArray():
		list = root.Get("results")
	case root.IsObject():
		// Also accept an object keyed by alert id.
		root.ForEach(func(k, v gjson.Result) bool {
			take(k.String(), v)
			return true
		})
		return out, entries
	}
	list.ForEach(func(_, e gjson.Result) bool {
		take(idOf(e), e)
		return true
	})
	return out, entries
}

// maxMarks is how many combining marks a character may carry: enough for
// Vietnamese written with combining accents (two), not for text piled up
// into an unreadable tower.
const maxMarks = 3

// cleanText makes text from the model (or an exchange) safe to place in a
// one-line alert, a terminal, a CSV cell or the page: valid UTF-8; no
// control or format characters (C0, DEL, C1, bidi overrides and isolates,
// zero-width characters, the BOM), no private-use or noncharacter code
// points; line and paragraph separators and runs of space collapsed into
// one space; at most maxMarks combining marks on a character; at most n
// runes, ending in "…" when cut. Escaping for HTML, Markdown or CSV
// formulas is each renderer's job.
func cleanText(s string, n int) string {
	var b strings.Builder
	space, marks, runes := false, 0, 0
	for i := 0; i < len(s) && runes <= n; {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1, hidden(r):
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = true
			continue
		case unicode.In(r, unicode.Mn, unicode.Me):
			if b.Len() == 0 || space || marks >= maxMarks {
				continue // nothing to sit on, or one too many
			}
			marks++
			b.WriteRune(r)
			runes++
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			runes++
		}
		space, marks = false, 0
		b.WriteRune(r)
		runes++
	}
	return cutRunes(b.String(), n)
}

// hidden reports code points that show nothing, or something other than
// themselves: format characters (bidi controls, zero-width space and
// joiners, the BOM, soft hyphen, tags), private use and noncharacters.
func hidden(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Co, unicode.Cs) ||
		(r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}

// cutRunes shortens s to at most n runes, ending in "…" when cut, never
// splitting a rune.
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < n-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…"
}
