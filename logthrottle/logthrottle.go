// Package logthrottle lets one log line through per period and counts the
// lines it holds back, so that an error that repeats (a bad frame in every
// frame, a failing disk, an LLM outage) is logged, with how many like it
// were not, without flooding the log. The errors themselves are counted
// in metrics; the throttle only spaces the lines (VictoriaMetrics'
// lib/logger throttler is the model).
package logthrottle

import (
	"sync"
	"time"
)

// Throttle spaces one kind of log line. Set Every before first use; the
// zero value otherwise is ready, and lets its first line through. It is
// safe for concurrent use.
type Throttle struct {
	// Every is the shortest time between two lines let through.
	Every time.Duration

	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int
}

// Allow reports whether a line may be logged at now and, if so, how many
// lines were held back since the previous one let through; a line not
// allowed is counted among those.
func (t *Throttle) Allow(now time.Time) (suppressed int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.last) < t.Every {
		t.suppressed++
		return 0, false
	}
	n := t.suppressed
	t.last, t.suppressed = now, 0
	return n, true
}
