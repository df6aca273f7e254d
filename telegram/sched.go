package telegram

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/mymmrac/telego"
	telegoapi "github.com/mymmrac/telego/telegoapi"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/retry"
)

const (
	maxBackoff  = 30 * time.Second
	baseBackoff = 500 * time.Millisecond
	// idleAck is how often an idle chat moves its checkpoints up to the
	// newest event offered, so a restart reads back only a short tail.
	idleAck = time.Second
)

// Each chat has two goroutines. The alert goroutine (chatRun) sends raw
// alerts and cascade digests, and nothing else, so an alert never waits
// for another request of its chat to finish. The analysis goroutine
// (annRun, analysis.go) sends the analyses and a digest's closing edit from
// what the budget leaves (classSpare). They share the chat's awaiting set.

// chatRun is the alert goroutine's own state; only it touches it.
type chatRun struct {
	b       *Bot
	c       *chat
	pending []event.Event // accepted, not yet delivered in any form
	meta    []pendingMeta // beside pending, one each
	dg      *digest       // the open cascade digest, nil if none
	// over holds alerts that found the chat's queue full, already folded
	// (see chat.push): they join the next digest so its totals stay equal
	// to the alerts even when the queue overflows.
	over    digest
	backoff time.Duration
	buf     []byte

	// slept is the time this goroutine has spent waiting for Telegram's
	// limits; sleepFrom and sleepTo bound the latest wait. An alert's
	// limit wait is how much of slept it was there for.
	slept              time.Duration
	sleepFrom, sleepTo time.Time
}

// pendingMeta is what the bot knows of a pending alert beyond the event.
type pendingMeta struct {
	sleptBase time.Duration // chatRun.slept when the alert arrived
	// readBack is when a replayed alert reached this run (read back from
	// the log, or offered already marked); zero if live.
	readBack time.Time
	restart  bool // read back from the log by recover
}

func (b *Bot) runChat(ctx context.Context, c *chat, recover bool) {
	r := &chatRun{b: b, c: c,
		pending: make([]event.Event, 0, b.o.QueueSize),
		meta:    make([]pendingMeta, 0, b.o.QueueSize),
		buf:     make([]byte, 0, 1024)}
	if recover {
		r.recover(time.Now())
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.runAnalyses(ctx, c)
	}()
	ack := time.NewTicker(idleAck)
	defer ack.Stop()
	for ctx.Err() == nil {
		if r.c.casc.hasToSend() {
			// A cascade rule crossed: it goes first, as a raw alert.
			r.sendCascade(ctx)
			continue
		}
		r.pull()
		if len(r.pending) == 0 && r.over.count == 0 {
			r.ackIdle()
			if r.dg != nil && time.Since(r.dg.lastFold) >= b.o.CascadeIdle {
				r.closeDigest()
				continue
			}
			var timeout <-chan time.Time
			var tm *time.Timer
			if r.dg != nil {
				tm = time.NewTimer(b.o.CascadeIdle - time.Since(r.dg.lastFold))
				timeout = tm.C
			}
			select {
			case <-ctx.Done():
			case <-c.wake:
			case <-timeout:
			case <-ack.C:
			}
			if tm != nil {
				tm.Stop()
			}
			continue
		}
		if !r.wait(ctx) {
			return
		}
		r.pull() // what arrived during the wait joins this send
		if r.dg != nil || r.over.count > 0 || len(r.pending) >= b.o.DigestMin {
			r.sendDigest(ctx)
		} else {
			r.sendAlert(ctx)
		}
	}
}

// pull moves waiting events from the chat's queue into pending.
func (r *chatRun) pull() {
	r.c.takeOverflow(&r.over)
	n := len(r.pending)
	r.pending = r.c.drain(r.pending, cap(r.pending)-len(r.pending))
	var now time.Time
	for i := n; i < len(r.pending); i++ {
		if r.pending[i].Flags&event.FlagReplay != 0 {
			if now.IsZero() {
				now = time.Now()
			}
			r.meta = append(r.meta, pendingMeta{readBack: now})
			continue
		}
		// An alert that arrived during the latest wait was there for the
		// part of it after its arrival.
		base := r.slept
		if recv := time.Unix(0, r.pending[i].RecvNs); recv.Before(r.sleepTo) {
			from := r.sleepFrom
			if recv.After(from) {
				from = recv
			}
			base -= r.sleepTo.Sub(from)
		}
		r.meta = append(r.meta, pendingMeta{sleptBase: base})
	}
}

// wait sleeps until the budget lets an alert go to the chat, and spends it.
func (r *chatRun) wait(ctx context.Context) bool {
	from := time.Now()
	d, ok := r.b.lim.waitTake(ctx, r.c.id, classAlert)
	if d > 0 {
		r.slept += d
		r.sleepFrom, r.sleepTo = from, from.Add(d)
	}
	return ok
}

func (r *chatRun) lang() *texts { return lang(r.c.cfg.Load().Lang) }

func (b *Bot) markup(ev *event.Event, t *texts) *telego.InlineKeyboardMarkup {
	sym := ev.Symbol.String()
	return tu.InlineKeyboard(tu.InlineKeyboardRow(
		tu.InlineKeyboardButton(strings.Replace(t.MuteButton, "%s", sym, 1)).WithCallbackData("mute:"+sym+":1h"),
		tu.InlineKeyboardButton(t.ChartButton).WithURL(chartURL(ev.Venue, ev.Market, sym)),
	))
}

// facts measures the alert at pending[0] as it is about to be sent.
func (r *chatRun) facts(now time.Time) alertFacts {
	ev, m := &r.pending[0], &r.meta[0]
	f := alertFacts{wait: r.slept - m.sleptBase}
	start := time.Unix(0, ev.RecvNs)
	if ev.Flags&event.FlagReplay != 0 {
		f.replay = fromLog
		if m.restart {
			f.replay = afterRestart
		}
		// The downtime (or the time since it happened) is not the box's
		// latency: count from the moment this run got the alert.
		if !m.readBack.IsZero() {
			start = m.readBack
		}
		from := time.Unix(0, ev.RecvNs)
		if ev.TimeMs > 0 {
			from = time.UnixMilli(ev.TimeMs)
		}
		f.late = now.Sub(from)
	}
	if f.wait < 0 {
		f.wait = 0
	}
	f.onBox = now.Sub(start) - f.wait
	if f.onBox < 0 {
		f.onBox = 0
	}
	return f
}

func (r *chatRun) sendAlert(ctx context.Context) {
	ev := &r.pending[0]
	t := r.lang()
	f := r.facts(time.Now())
	r.buf = appendAlertHTML(r.buf[:0], ev, t, &f)
	text := string(r.buf)
	p := tu.Message(tu.ID(r.c.id), text).WithParseMode(telego.ModeHTML).WithReplyMarkup(r.b.markup(ev, t))
	p.LinkPreviewOptions = &telego.LinkPreviewOptions{IsDisabled: true}
	built := time.Now()
	r.b.m.handoff.Update(built.Sub(time.Unix(0, ev.RecvNs)).Seconds())
	msg, err := r.b.sendMessage(ctx, r.c.id, p)
	if err != nil {
		switch r.b.classify(ctx, r.c, err, &r.backoff) {
		case actDrop:
			r.shift(1)
		case actGone:
			r.forget()
		}
		return
	}
	r.backoff = 0
	r.b.m.sent.Inc()
	r.b.m.limitWait.Update(f.wait.Seconds())
	r.measure(ev)
	if obs := r.b.o.Observer.Alert; obs != nil {
		obs(AlertSent{Chat: r.c.id, MsgID: msg.MessageID, Event: ev, Built: built, LimitWait: f.wait})
	}
	r.c.aw.sent(r.b, r.c, &sentAlert{msgID: msg.MessageID, ev: *ev, facts: f, text: text})
	r.shift(1)
}

// measure records an alert's latencies once Telegram has it.
func (r *chatRun) measure(ev *event.Event) {
	now := time.Now().UnixNano()
	if ev.Flags&event.FlagReplay != 0 {
		// Redelivered events would only measure the restart.
		return
	}
	r.b.lat.add(ev.RecvNs, now-ev.RecvNs)
	if ev.TimeMs > 0 {
		// Exchange time to Telegram's answer: what the trader waits for.
		r.b.m.endToEnd.Update(float64(now-ev.TimeMs*1e6) / 1e9)
	}
}

func (r *chatRun) shift(n int) {
	r.pending = r.pending[:copy(r.pending, r.pending[n:])]
	r.meta = r.meta[:copy(r.meta, r.meta[n:])]
	r.c.release(n)
}

// forget drops everything after the chat went away (403).
func (r *chatRun) forget() {
	r.c.release(len(r.pending))
	r.pending, r.meta = r.pending[:0], r.meta[:0]
	r.dg, r.over = nil, digest{}
	r.c.casc.clear()
	for {
		n := len(r.c.drain(r.pending[:0], cap(r.pending)))
		if n == 0 {
			break
		}
		r.c.release(n)
	}
	r.c.aw.drop(r.b, r.c)
}

// ackIdle acknowledges, when the chat holds nothing undelivered, every
// event offered so far: those the chat wanted were delivered, the rest it
// never wanted. The newest offered is read before the queue is checked, so
// an event counted in it has been queued already if the chat wants it.
func (r *chatRun) ackIdle() {
	seq := r.b.lastOffered.Load()
	if seq == 0 || r.c.queued() {
		return
	}
	r.c.aw.ackAlerts(r.b, r.c, seq)
}

// sendDigest folds every pending alert into the cascade's digest and
// sends it, or edits it in place when it is already out.
func (r *chatRun) sendDigest(ctx context.Context) {
	var d digest
	if r.dg != nil {
		d = *r.dg
	}
	d.merge(&r.over)
	for i := range r.pending {
		d.fold(&r.pending[i])
	}
	t := r.lang()
	text := string(d.appendHTML(r.buf[:0], t, true))
	if len(r.pending) > 0 {
		r.b.m.handoff.UpdateDuration(time.Unix(0, r.pending[len(r.pending)-1].RecvNs))
	}
	var err error
	edit := d.msgID != 0
	if d.msgID == 0 {
		p := tu.Message(tu.ID(r.c.id), text).WithParseMode(telego.ModeHTML)
		p.LinkPreviewOptions = &telego.LinkPreviewOptions{IsDisabled: true}
		var msg *telego.Message
		if msg, err = r.b.sendMessage(ctx, r.c.id, p); err == nil {
			d.msgID = msg.MessageID
			r.b.m.digests.Inc()
		}
	} else {
		if err = r.b.editText(ctx, r.c.id, d.msgID, text, nil); err == nil {
			r.b.m.edits.Inc()
		}
	}
	if err != nil {
		if d.msgID != 0 && isAPI(err, 400) {
			// The digest message is gone or uneditable: the next slot
			// starts a fresh one with everything still pending.
			r.dg = nil
			return
		}
		switch r.b.classify(ctx, r.c, err, &r.backoff) {
		case actDrop:
			r.shift(len(r.pending))
		case actGone:
			r.forget()
		}
		return
	}
	r.backoff = 0
	d.lastFold = time.Now()
	r.over = digest{}
	var last uint64
	for i := range r.pending {
		r.measure(&r.pending[i])
		if r.pending[i].Seq > last {
			last = r.pending[i].Seq
		}
	}
	if obs := r.b.o.Observer.Digest; obs != nil {
		obs(r.c.id, d.msgID, edit, d.count, r.pending)
	}
	r.dg = &d
	r.shift(len(r.pending))
	// The queue is FIFO: what it still holds is newer than pending. The
	// overflow's alerts may be newer still, but only with the queue empty
	// is everything up to them delivered.
	if !r.c.queued() && d.maxSeq > last {
		last = d.maxSeq
	}
	r.c.aw.ackAlerts(r.b, r.c, last)
}

// closeDigest hands the digest's last edit, without the "still going"
// line, to the analysis goroutine once the cascade has been quiet for
// CascadeIdle: it is not news, so it waits for spare budget.
func (r *chatRun) closeDigest() {
	d := r.dg
	r.dg = nil
	if d.msgID == 0 {
		return
	}
	r.c.aw.closeDigest(r.c, closingEdit{msgID: d.msgID, text: string(d.appendHTML(nil, r.lang(), false))})
}

type action int

const (
	actRetry action = iota
	actDrop
	actGone
)

// classify decides what a failed request means and applies its side
// effects: a 429 stops the chat's sends for retry_after, a 403 unsubscribes
// the chat, 5xx and network errors back off exponentially.
func (b *Bot) classify(ctx context.Context, c *chat, err error, backoff *time.Duration) action {
	if ctx.Err() != nil {
		return actRetry
	}
	var apiErr *telegoapi.Error
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.ErrorCode == 429:
			b.m.retryAfter.Inc()
			wait := time.Second
			if apiErr.Parameters != nil && apiErr.Parameters.RetryAfter > 0 {
				wait = time.Duration(apiErr.Parameters.RetryAfter) * time.Second
			}
			b.lim.penalize(c.id, time.Now().Add(wait), true)
			b.log.Warn("rate limited by telegram", "chat", c.id, "retry_after", wait)
			return actRetry
		case apiErr.ErrorCode == 403:
			b.m.gone.Inc()
			b.log.Warn("telegram refused the chat (bot blocked or removed): unsubscribing", "chat", c.id, "err", err)
			if uerr := b.update(c, func(s *settings) { s.Subscribed = false }); uerr != nil {
				b.log.Error("cannot unsubscribe chat", "chat", c.id, "err", uerr)
			}
			return actGone
		case apiErr.ErrorCode == 400:
			b.m.failed.Inc()
			b.log.Error("telegram rejected a message: dropping it", "chat", c.id, "err", err)
			return actDrop
		}
	}
	b.m.retries.Inc()
	*backoff = retry.Backoff(*backoff, baseBackoff, maxBackoff)
	b.lim.penalize(c.id, time.Now().Add(*backoff), false)
	b.log.Warn("telegram request failed: retrying", "chat", c.id, "backoff", *backoff, "err", err)
	return actRetry
}

func isAPI(err error, code int) bool {
	var apiErr *telegoapi.Error
	return errors.As(err, &apiErr) && apiErr.ErrorCode == code
}

// shadowNowhere reports whether chat is the shadow bot's null target:
// alerts are logged instead of sent.
func (b *Bot) shadowNowhere(chat int64) bool { return b.o.Shadow && chat == 0 }

// sendMessage performs one sendMessage, timed, with the token scrubbed
// from any error.
func (b *Bot) sendMessage(ctx context.Context, chat int64, p *telego.SendMessageParams) (*telego.Message, error) {
	if b.shadowNowhere(chat) {
		b.log.Info("shadow alert", "text", p.Text)
		return &telego.Message{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.o.RequestTimeout)
	defer cancel()
	start := time.Now()
	msg, err := b.api.SendMessage(ctx, p)
	b.m.request.UpdateDuration(start)
	if err != nil {
		b.m.countAPIError(err)
		return nil, scrub(err, b.o.Token)
	}
	return msg, nil
}

// editText edits a message's text (HTML). "message is not modified" is
// success: the text already says what we wanted.
func (b *Bot) editText(ctx context.Context, chat int64, msgID int, text string, kb *telego.InlineKeyboardMarkup) error {
	if b.shadowNowhere(chat) {
		b.log.Info("shadow edit", "text", text)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.o.RequestTimeout)
	defer cancel()
	p := tu.EditMessageText(tu.ID(chat), msgID, text).WithParseMode(telego.ModeHTML)
	p.LinkPreviewOptions = &telego.LinkPreviewOptions{IsDisabled: true}
	if kb != nil {
		p.ReplyMarkup = kb
	}
	start := time.Now()
	_, err := b.api.EditMessageText(ctx, p)
	b.m.request.UpdateDuration(start)
	if err != nil {
		var apiErr *telegoapi.Error
		if errors.As(err, &apiErr) && apiErr.ErrorCode == 400 && strings.Contains(apiErr.Description, "not modified") {
			return nil
		}
		b.m.countAPIError(err)
		return scrub(err, b.o.Token)
	}
	return nil
}

// latencyLog keeps recent box→Telegram latencies for /stats.
type latencyLog struct {
	mu   sync.Mutex // guards at, lat, next, full
	at   []int64    // receive time, Unix ns
	lat  []int64    // receive → Telegram's answer, ns
	next int
	full bool
}

func (l *latencyLog) init(n int) {
	l.at = make([]int64, n)
	l.lat = make([]int64, n)
}

func (l *latencyLog) add(at, lat int64) {
	l.mu.Lock()
	l.at[l.next], l.lat[l.next] = at, lat
	l.next++
	if l.next == len(l.at) {
		l.next, l.full = 0, true
	}
	l.mu.Unlock()
}

// since returns the latencies of alerts received at or after from.
func (l *latencyLog) since(from int64) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.at)
	}
	var out []time.Duration
	for i := 0; i < n; i++ {
		if l.at[i] >= from {
			out = append(out, time.Duration(l.lat[i]))
		}
	}
	return out
}
