package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestParseSettings(t *testing.T) {
	got := parseSettings([]debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "8409bb3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a"},
		{Key: "vcs.time", Value: "2026-12-01T20:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	})
	if got != (vcs{"8409bb3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a", "2026-12-01T20:00:00Z", true}) {
		t.Errorf("parseSettings = %+v", got)
	}
	if got := parseSettings(nil); got != (vcs{}) {
		t.Errorf("no settings = %+v", got)
	}
}
