// Package retry is how liqbox waits between attempts: a sleep that ends
// with its context, so that shutdown never waits out a backoff or a pacing
// delay, and the doubling backoff (the log's failed writes, Telegram's 5xx
// and network errors, polling and getMe, and under ingest's reconnect
// jitter).
//
// The enricher's retry wait keeps its own rule: it is derived from the
// attempt number with ±20 % jitter and bounded by the batch's deadline,
// not capped.
package retry

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends, and reports whether d passed: false
// means ctx ended first. A d of zero or less returns at once (false only if
// ctx has already ended).
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Backoff is the wait after another failure when the last wait was prev:
// min for the first (prev zero), then prev doubled, never above max.
// Resetting is setting prev back to zero.
func Backoff(prev, min, max time.Duration) time.Duration {
	switch {
	case prev <= 0:
		return min
	case prev > max/2:
		return max
	}
	return prev * 2
}
