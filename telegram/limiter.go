package telegram

import (
	"context"
	"sync"
	"time"

	"github.com/liqbox/liqbox/retry"
)

// class is a message's priority in a chat's sending budget.
type class uint8

const (
	// classAlert is a raw alert or a digest carrying new alerts: it may
	// spend the whole budget.
	classAlert class = iota
	// classSpare is everything else a chat asked for or expects (analysis
	// edits and replies, the closing edit of a digest, command replies): it
	// may spend only what leaves the reserve untouched, so it never makes
	// an alert wait.
	classSpare
	// classIdle is what nobody waits for (refusals to outsiders): it also
	// leaves one spare message, so it never delays a command's reply.
	classIdle
)

// limiter is the budget of Telegram's three limits at once. Per chat, a
// token bucket: Limits.Burst messages may go back to back, refilled at one
// per Limits.PerChat. Per group, a sliding window of Limits.GroupMax
// messages per Limits.GroupWindow. In all, a sliding window of one second
// holding at most 1 s / Limits.Global messages. An alert needs one unit of
// each; a spare-class message needs one plus the reserve (Limits.Reserve
// per chat and group, a third of the global window), so after any spare
// message the next Reserve alerts of the chat still go at once; an
// idle-class message needs one more again.
//
// Nothing is booked ahead: take either spends now or says when to ask
// again. Since spare messages need strictly more than alerts, a waiting
// alert is never overtaken by one.
type limiter struct {
	l             Limits
	globalMax     int
	globalReserve int

	mu     sync.Mutex // guards global and chats
	global window
	chats  map[int64]*budget
}

// budget is one chat's state in the limiter.
type budget struct {
	tokens  float64   // at `at`, in [0, Burst]
	at      time.Time // when tokens was last brought up to date
	blocked time.Time // nothing may go before (retry_after, backoff)
	group   window    // groups only
}

// window counts the messages of the last span, at most max of them.
type window struct {
	ts []time.Time // send times, oldest first, at most max
}

func newLimiter(l Limits) *limiter {
	gm := int(time.Second / l.Global)
	if gm < 1 {
		gm = 1
	}
	return &limiter{l: l, globalMax: gm, globalReserve: gm / 3, chats: map[int64]*budget{}}
}

// isGroup reports whether chat is a group, supergroup or channel (their ids
// are negative): the per-group window applies.
func isGroup(chat int64) bool { return chat < 0 }

func (l *limiter) budgetLocked(chat int64, now time.Time) *budget {
	b := l.chats[chat]
	if b == nil {
		b = &budget{tokens: float64(l.l.Burst), at: now}
		l.chats[chat] = b
	}
	return b
}

// refill brings b's tokens up to now.
func (l *limiter) refill(b *budget, now time.Time) {
	if now.After(b.at) {
		b.tokens += float64(now.Sub(b.at)) / float64(l.l.PerChat)
		if max := float64(l.l.Burst); b.tokens > max {
			b.tokens = max
		}
		b.at = now
	}
}

// take spends one message of chat's budget at now if cl may send now, and
// reports true. Otherwise it spends nothing and returns the earliest time
// cl could send, were nothing else sent meanwhile.
func (l *limiter) take(chat int64, cl class, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.budgetLocked(chat, now)
	if at := l.earliestLocked(chat, b, cl, now); at.After(now) {
		return false, at
	}
	b.tokens--
	l.global.add(now, l.globalMax)
	if isGroup(chat) {
		b.group.add(now, l.l.GroupMax)
	}
	return true, now
}

// spare returns how many spare-class messages chat could send at now, one
// after another, without touching the reserve.
func (l *limiter) spare(chat int64, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.budgetLocked(chat, now)
	if b.blocked.After(now) {
		return 0
	}
	l.refill(b, now)
	n := int(b.tokens) - l.l.Reserve
	if g := l.globalMax - l.globalReserve - l.global.count(now, time.Second); g < n {
		n = g
	}
	if isGroup(chat) {
		if g := l.l.GroupMax - l.l.Reserve - b.group.count(now, l.l.GroupWindow); g < n {
			n = g
		}
	}
	if n < 0 {
		return 0
	}
	return n
}

// earliestLocked is the first instant at or after now when cl may send to
// chat. l.mu must be held.
func (l *limiter) earliestLocked(chat int64, b *budget, cl class, now time.Time) time.Time {
	need, needGlobal := 1, 1
	switch cl {
	case classSpare:
		need, needGlobal = 1+l.l.Reserve, 1+l.globalReserve
	case classIdle:
		need, needGlobal = min(2+l.l.Reserve, l.l.Burst, l.l.GroupMax), 2+l.globalReserve
		needGlobal = min(needGlobal, l.globalMax)
	}
	t := now
	if b.blocked.After(t) {
		t = b.blocked
	}
	l.refill(b, now)
	if missing := float64(need) - b.tokens; missing > 0 {
		// Round up so that at t the bucket really holds need tokens.
		if w := now.Add(time.Duration(missing*float64(l.l.PerChat)) + 1); w.After(t) {
			t = w
		}
	}
	if w := l.global.free(now, time.Second, l.globalMax, needGlobal); w.After(t) {
		t = w
	}
	if isGroup(chat) {
		if w := b.group.free(now, l.l.GroupWindow, l.l.GroupMax, need); w.After(t) {
			t = w
		}
	}
	return t
}

// penalize stops every send to chat until until (a 429's retry_after, or a
// backoff after an error). A 429 also empties the chat's bucket (drain):
// Telegram thinks the chat has had too much, so no burst right after.
func (l *limiter) penalize(chat int64, until time.Time, drain bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.budgetLocked(chat, time.Now())
	if until.After(b.blocked) {
		b.blocked = until
	}
	if drain {
		b.tokens, b.at = 0, until
	}
}

// add records a send at now, keeping at most max times.
func (w *window) add(now time.Time, max int) {
	if len(w.ts) >= max {
		w.ts = append(w.ts[:0], w.ts[len(w.ts)-max+1:]...)
	}
	w.ts = append(w.ts, now)
}

// count is the number of sends in (now-span, now].
func (w *window) count(now time.Time, span time.Duration) int {
	n := 0
	for i := len(w.ts) - 1; i >= 0 && now.Sub(w.ts[i]) < span; i-- {
		n++
	}
	return n
}

// free is the first instant at or after now when the window of span holds
// at most max-need sends, so that need more fit.
func (w *window) free(now time.Time, span time.Duration, max, need int) time.Time {
	n := w.count(now, span)
	over := n - (max - need) // sends that must leave the window first
	if over <= 0 {
		return now
	}
	// The in-window sends are the last n, oldest first; the over-th of
	// them leaving is what makes room.
	return w.ts[len(w.ts)-n+over-1].Add(span)
}

// waitTake waits until cl may send to chat and spends it; it returns the
// time spent waiting, and false if ctx ended first.
func (l *limiter) waitTake(ctx context.Context, chat int64, cl class) (time.Duration, bool) {
	var start time.Time
	for {
		now := time.Now()
		ok, at := l.take(chat, cl, now)
		if ok {
			if start.IsZero() {
				return 0, true
			}
			return now.Sub(start), true
		}
		if start.IsZero() {
			start = now
		}
		if !retry.Sleep(ctx, time.Until(at)) {
			return time.Since(start), false
		}
	}
}
