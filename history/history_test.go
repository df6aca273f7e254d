package history

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                  now,
		"-2h":                  now.Add(-2 * time.Hour),
		"-7d":                  now.Add(-7 * 24 * time.Hour),
		"2026-11-01":           time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-27T10:30:00Z": time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC),
	} {
		got, err := ParseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-2x", "2026-13-01"} {
		if _, err := ParseWhen(bad, now); err == nil {
			t.Errorf("ParseWhen(%q) accepted", bad)
		}
	}
}

// TestVenueHelpNamesEveryVenue: --venue's help (export, stats, replay,
// backtest) lists exactly the venues Parse accepts.
func TestVenueHelpNamesEveryVenue(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var q Query
	q.Register(fs, "-1h")
	help := fs.Lookup("venue").Usage
	for _, v := range event.Venues() {
		if !strings.Contains(help, v.String()) {
			t.Errorf("--venue's help %q lacks %s", help, v)
		}
		q.Venue = v.String()
		if err := q.Parse(time.Now()); err != nil {
			t.Errorf("--venue %s: %v", v, err)
		}
	}
}
