package event

import "testing"

func TestAnalysisIn(t *testing.T) {
	a := Analysis{Lang: "en", Summary: "s", Recommendation: "r",
		Alt: []Text{{Lang: "vi", Summary: "tóm tắt", Recommendation: "khuyến nghị"}}}
	for lang, want := range map[string]Text{
		"en": {Lang: "en", Summary: "s", Recommendation: "r"},
		"vi": {Lang: "vi", Summary: "tóm tắt", Recommendation: "khuyến nghị"},
		"fr": {Lang: "en", Summary: "s", Recommendation: "r"}, // no such text: its own language
	} {
		if got := a.In(lang); got != want {
			t.Errorf("In(%q) = %+v, want %+v", lang, got, want)
		}
	}
}
