package telegram

import (
	"sync"
	"time"
)

// limiter hands out send slots that respect Telegram's three limits at
// once: per chat, per group (sliding window) and global. A reservation is
// a commitment: the caller waits until the slot and then sends.
type limiter struct {
	l Limits

	mu     sync.Mutex // guards everything below
	global time.Time
	chats  map[int64]*chatSlots
}

type chatSlots struct {
	next   time.Time
	recent []time.Time // groups only: the last GroupMax slots, oldest first
}

func newLimiter(l Limits) *limiter {
	return &limiter{l: l, chats: map[int64]*chatSlots{}}
}

// reserve returns the earliest time a message may go to chat and books it.
func (l *limiter) reserve(chat int64, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.chats[chat]
	if cs == nil {
		cs = &chatSlots{}
		l.chats[chat] = cs
	}
	t := l.earliest(chat, cs, now)
	group := chat < 0 // groups, supergroups and channels have negative ids
	cs.next = t.Add(l.l.PerChat)
	l.global = t.Add(l.l.Global)
	if group {
		if len(cs.recent) >= l.l.GroupMax {
			cs.recent = append(cs.recent[:0], cs.recent[1:]...)
		}
		cs.recent = append(cs.recent, t)
	}
	return t
}

// peek returns the earliest time a message may go to chat without booking
// it, so a low-priority send (an analysis edit) can wait for a free slot and
// still let an alert that turns up meanwhile take it.
func (l *limiter) peek(chat int64, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.chats[chat]
	if cs == nil {
		cs = &chatSlots{}
	}
	return l.earliest(chat, cs, now)
}

// earliest is the first instant at or after now that all three limits
// allow for chat. l.mu must be held.
func (l *limiter) earliest(chat int64, cs *chatSlots, now time.Time) time.Time {
	t := now
	if cs.next.After(t) {
		t = cs.next
	}
	if l.global.After(t) {
		t = l.global
	}
	if chat < 0 && len(cs.recent) >= l.l.GroupMax {
		if w := cs.recent[0].Add(l.l.GroupWindow); w.After(t) {
			t = w
		}
	}
	return t
}

// penalize pushes chat's next slot to at least until (a 429's retry_after).
func (l *limiter) penalize(chat int64, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := l.chats[chat]
	if cs == nil {
		cs = &chatSlots{}
		l.chats[chat] = cs
	}
	if until.After(cs.next) {
		cs.next = until
	}
}

// sleepUntil waits until t or ctx's end; it reports whether t was reached.
func sleepUntil(ctx interface {
	Done() <-chan struct{}
}, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-ctx.Done():
			return false
		default:
			return true
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
