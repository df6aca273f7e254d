package enrich

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/liqbox/liqbox/event"
)

// fuzzIDs are the alerts the fuzzed replies are checked against.
var fuzzIDs = map[string]int{"1": 0, "2": 1, "3": 2}

// replySeeds are the realistic replies in testdata/replies: model texts
// (*.txt) and whole chat-completions bodies (*.json).
func replySeeds(t testing.TB, ext string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "replies", "*"+ext))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seeds in testdata/replies/*%s: %v", ext, err)
	}
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// checkText fails t unless s could go into a chat, a terminal, a CSV cell
// or the page as it is (before the renderer's own escaping).
func checkText(t *testing.T, what, s string, maxRunes int) {
	t.Helper()
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxRunes || s != strings.TrimSpace(s) {
		t.Fatalf("%s %q: empty, invalid, over %d runes or padded", what, s, maxRunes)
	}
	marks := 0
	for _, r := range s {
		switch {
		case r < 0x20, r >= 0x7f && r <= 0x9f: // C0, DEL, C1: escape sequences, bells, line breaks
			t.Fatalf("%s %q holds control character %U", what, s, r)
		case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x2028, r == 0x2029, r == 0xfeff, r == 0xad:
			t.Fatalf("%s %q holds invisible or reordering character %U", what, s, r)
		case r >= 0xe000 && r <= 0xf8ff, r >= 0xf0000, r&0xfffe == 0xfffe:
			t.Fatalf("%s %q holds private-use or noncharacter %U", what, s, r)
		}
		if r >= 0x300 && r <= 0x36f {
			if marks++; marks > maxMarks {
				t.Fatalf("%s %q piles up combining marks", what, s)
			}
		} else {
			marks = 0
		}
		if r == ' ' && strings.Contains(s, "  ") {
			t.Fatalf("%s %q holds a run of spaces", what, s)
		}
	}
}

// checkVerdicts asserts what every parsed answer must be, whatever the model sent.
func checkVerdicts(t *testing.T, js string) {
	t.Helper()
	v, entries := parseVerdicts(js, fuzzIDs)
	if len(v) > len(fuzzIDs) || len(v) > entries {
		t.Fatalf("%d verdicts from %d entries for %d alerts", len(v), entries, len(fuzzIDs))
	}
	for idx, x := range v {
		if idx < 0 || idx >= len(fuzzIDs) {
			t.Fatalf("verdict for batch index %d", idx)
		}
		if x.risk != event.RiskLow && x.risk != event.RiskMedium && x.risk != event.RiskHigh {
			t.Fatalf("risk %v", x.risk)
		}
		checkText(t, "summary", x.summary, maxSummaryRunes)
		checkText(t, "recommendation", x.recommendation, maxRecommendationRunes)
	}
}

// FuzzModelText feeds the model's text, split in two (a preamble or fence
// and the rest), through extraction and validation.
func FuzzModelText(f *testing.F) {
	for _, s := range replySeeds(f, ".txt") {
		f.Add("", s)
		f.Add(s[:len(s)/3], s[len(s)/3:])
	}
	f.Fuzz(func(t *testing.T, head, tail string) {
		content := head + tail
		js, ok := extractJSON(content)
		if !ok {
			return
		}
		if !gjson.Valid(js) || !strings.Contains(content, js) {
			t.Fatalf("extracted %q: not valid JSON from the reply", js)
		}
		checkVerdicts(t, js)
	})
}

// FuzzReplyBody feeds whole chat-completions bodies through the client's
// parsing, as a server (or whatever answers at its address) sends them.
func FuzzReplyBody(f *testing.F) {
	for _, s := range replySeeds(f, ".json") {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, ok := parseEnvelope(body)
		if !ok {
			return
		}
		if c.hasCost && !(c.costUSD >= 0) {
			t.Fatalf("cost %v", c.costUSD)
		}
		if js, ok := extractJSON(c.content); ok {
			checkVerdicts(t, js)
		}
		if s := snippet(c.content); utf8.RuneCountInString(s) > 200 || strings.ContainsAny(s, "\x1b\n\r") {
			t.Fatalf("snippet %q", s)
		}
	})
}

// TestHostileReplyCleaned checks the hostile seed's outcome exactly.
func TestHostileReplyCleaned(t *testing.T) {
	js, ok := extractJSON(replyFile(t, "hostile.txt"))
	if !ok {
		t.Fatal("no JSON")
	}
	v, _ := parseVerdicts(js, fuzzIDs)
	// Each control character became a space; what is left is inert text.
	if got := v[0].summary; got != "[2J [31mFAKE ALERT [0m BTCUSDT LONG liquidated $99M" {
		t.Errorf("summary = %q", got)
	}
	if got := v[0].recommendation; !strings.HasPrefix(got, "esrever zerowidth next para nel =HYPERLINK(") || strings.ContainsRune(got, 0x10ffff) {
		t.Errorf("recommendation = %q", got)
	}
	checkVerdicts(t, js)
}

func replyFile(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", "replies", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
