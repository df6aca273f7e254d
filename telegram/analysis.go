package telegram

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/liqbox/liqbox/event"
)

// How analyses reach a chat. Each analysis goes to the alert it reads,
// newest alert first, once the chat's budget has spare capacity (see
// limiter). One waiting analysis edits its alert in place. When several
// are waiting and the spare budget cannot pay an edit each, one reply
// under the newest alert carries them all, each headed by its alert's
// line: the reader gets every analysis now rather than the last one late.
// An alert older than Options.AnalysisMaxAge (from its receive time) gets
// no analysis in the chat: it is counted, and the analysis stays in the log.

const (
	// annKeep bounds a chat's analyses waiting for their alert and alerts
	// waiting for their analysis; the age limit keeps both far smaller.
	annKeep = 512
	// combinedMax is the most analyses one reply carries.
	combinedMax = 10
)

// sentAlert is an alert sent on its own whose analysis has not been shown.
type sentAlert struct {
	msgID int
	ev    event.Event
	facts alertFacts
	text  string // the alert's text as sent, which an edit extends
}

// closingEdit is a digest's final text, to be sent when the budget allows.
type closingEdit struct {
	msgID int
	text  string
}

// awaiting is the state a chat's two goroutines share: the alerts awaiting
// their analysis and the digest edits still to make. It also computes the
// chat's two checkpoints, persisting the first through AsyncKV.
type awaiting struct {
	mu      sync.Mutex // guards everything below
	m       map[uint64]*sentAlert
	closing []closingEdit
	// expired remembers the latest alerts that aged out before their
	// analysis came, so a late analysis is counted as too old.
	expired  [64]uint64
	nexp     int
	alertAck uint64 // the alert checkpoint acknowledged
	annAck   uint64 // the analysis checkpoint acknowledged
	sinkA    string // "telegram:<chat>"
	sinkN    string // "telegram-analysis:<chat>"
	key      []byte // the chat's key in bucketSent
}

func (w *awaiting) init(chat int64) {
	id := strconv.FormatInt(chat, 10)
	w.m = map[uint64]*sentAlert{}
	w.sinkA, w.sinkN, w.key = "telegram:"+id, "telegram-analysis:"+id, []byte(id)
}

// sent records an alert just sent: its analysis is now awaited, and every
// alert up to it is delivered.
func (w *awaiting) sent(b *Bot, c *chat, sa *sentAlert) {
	w.mu.Lock()
	if len(w.m) >= annKeep {
		w.evictOldestLocked()
	}
	w.m[sa.ev.Seq] = sa
	w.persistLocked(b)
	w.ackAlertsLocked(b, sa.ev.Seq)
	w.mu.Unlock()
	c.signalAnn()
}

// ackAlerts acknowledges alert delivery up to seq.
func (w *awaiting) ackAlerts(b *Bot, c *chat, seq uint64) {
	w.mu.Lock()
	w.ackAlertsLocked(b, seq)
	w.mu.Unlock()
}

func (w *awaiting) ackAlertsLocked(b *Bot, seq uint64) {
	if seq > w.alertAck {
		w.alertAck = seq
		if b.o.Acker != nil {
			b.o.Acker.Ack(w.sinkA, seq)
		}
	}
	w.ackAnalysesLocked(b)
}

// ackAnalysesLocked moves the analysis checkpoint to just below the oldest
// alert still awaiting its analysis, or to the alert checkpoint when none
// is: a restart reads back the alerts it must still edit and no more.
func (w *awaiting) ackAnalysesLocked(b *Bot) {
	seq := w.alertAck
	for s := range w.m {
		if s <= seq {
			seq = s - 1
		}
	}
	if seq > w.annAck {
		w.annAck = seq
		if b.o.Acker != nil {
			b.o.Acker.Ack(w.sinkN, seq)
		}
	}
}

func (w *awaiting) evictOldestLocked() {
	var oldest uint64
	for s := range w.m {
		if oldest == 0 || s < oldest {
			oldest = s
		}
	}
	delete(w.m, oldest)
}

// get returns the awaited alert of seq, if any, and whether seq's alert
// aged out before its analysis came.
func (w *awaiting) get(seq uint64) (sa *sentAlert, ok, expired bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if sa, ok = w.m[seq]; ok {
		return sa, true, false
	}
	for _, s := range w.expired {
		if s == seq && s != 0 {
			return nil, false, true
		}
	}
	return nil, false, false
}

// done removes the given alerts (their analysis is shown, or they are too
// old for it), persists the rest and moves the analysis checkpoint.
func (w *awaiting) done(b *Bot, seqs ...uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.m)
	for _, s := range seqs {
		delete(w.m, s)
	}
	if len(w.m) != n {
		w.persistLocked(b)
		w.ackAnalysesLocked(b)
	}
}

// expire removes the alerts too old for an analysis and returns the
// earliest time another one expires (zero if none waits).
func (w *awaiting) expire(b *Bot, now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	cut := now.Add(-b.o.AnalysisMaxAge).UnixNano()
	var next int64
	n := len(w.m)
	for s, sa := range w.m {
		switch {
		case sa.ev.RecvNs < cut:
			delete(w.m, s)
			w.expired[w.nexp%len(w.expired)] = s
			w.nexp++
		case next == 0 || sa.ev.RecvNs < next:
			next = sa.ev.RecvNs
		}
	}
	if len(w.m) != n {
		w.persistLocked(b)
		w.ackAnalysesLocked(b)
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(0, next).Add(b.o.AnalysisMaxAge)
}

// drop forgets everything (the chat went away).
func (w *awaiting) drop(b *Bot, c *chat) {
	w.mu.Lock()
	clear(w.m)
	w.closing = nil
	w.persistLocked(b)
	w.ackAnalysesLocked(b)
	w.mu.Unlock()
	c.signalAnn()
}

func (w *awaiting) closeDigest(c *chat, e closingEdit) {
	w.mu.Lock()
	w.closing = append(w.closing, e)
	w.mu.Unlock()
	c.signalAnn()
}

func (w *awaiting) takeClosing() (closingEdit, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.closing) == 0 {
		return closingEdit{}, false
	}
	e := w.closing[0]
	w.closing = w.closing[1:]
	return e, true
}

func (w *awaiting) hasClosing() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.closing) > 0
}

// annRun is the analysis goroutine's own state.
type annRun struct {
	b       *Bot
	c       *chat
	waiting []waitingAnalysis // taken off the chat's queue, not yet shown
	backoff time.Duration
	buf     []byte
}

type waitingAnalysis struct {
	a     event.Analysis
	since time.Time // when the chat got it
}

// ready is an analysis whose alert was sent here and is young enough.
type ready struct {
	a  event.Analysis
	sa *sentAlert
}

func (b *Bot) runAnalyses(ctx context.Context, c *chat) {
	r := &annRun{b: b, c: c}
	for ctx.Err() == nil {
		now := time.Now()
		r.collect(now)
		next := c.aw.expire(b, now)
		rs, unmatched := r.sort(now)
		if !unmatched.IsZero() && (next.IsZero() || unmatched.Before(next)) {
			next = unmatched
		}
		cm, cascDue, cascNext := c.casc.due(now, b.o.CascadeEdit)
		if !cascNext.IsZero() && (next.IsZero() || cascNext.Before(next)) {
			next = cascNext
		}
		if len(rs) == 0 && !c.aw.hasClosing() && !cascDue {
			r.sleep(ctx, next)
			continue
		}
		ok, at := b.lim.take(c.id, classSpare, now)
		if !ok {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			r.sleep(ctx, next)
			continue
		}
		if len(rs) == 0 {
			if cascDue {
				r.editCascade(ctx, cm)
			} else if e, ok := c.aw.takeClosing(); ok {
				r.close(ctx, e)
			}
			continue
		}
		if len(rs) == 1 || b.lim.spare(c.id, time.Now()) >= len(rs)-1 {
			r.edit(ctx, rs[0])
		} else {
			r.combined(ctx, rs)
		}
	}
}

// sleep waits for news (an analysis, a sent alert) or until next.
func (r *annRun) sleep(ctx context.Context, next time.Time) {
	var timeout <-chan time.Time
	if !next.IsZero() {
		tm := time.NewTimer(time.Until(next))
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case <-ctx.Done():
	case <-r.c.annWake:
	case <-timeout:
	}
}

// collect moves the chat's queued analyses into r.waiting; a second
// analysis of the same alert replaces the first.
func (r *annRun) collect(now time.Time) {
	for _, a := range r.c.takeAnalyses() {
		if a.Late {
			// Made after the alert's edit age (enrich says so): the log
			// keeps it, the chat does not get it.
			r.b.m.annTooOld.Inc()
			continue
		}
		i := slices.IndexFunc(r.waiting, func(w waitingAnalysis) bool { return w.a.Seq == a.Seq })
		if i >= 0 {
			r.waiting[i].a = a
			continue
		}
		if len(r.waiting) >= annKeep {
			r.b.m.annDropped.Inc()
			continue
		}
		r.waiting = append(r.waiting, waitingAnalysis{a: a, since: now})
	}
}

// sort returns the analyses that can be shown, newest alert first, and
// drops the rest: those whose alert is too old (counted), and those whose
// alert will never be sent here on its own (filtered out for this chat, or
// folded into a digest): their chat holds no alert waiting to go, or they
// waited AnalysisMaxAge. It also returns when an unmatched one next
// expires.
func (r *annRun) sort(now time.Time) ([]ready, time.Time) {
	// The chat's backlog is read before the awaited alerts: an alert
	// leaves the backlog only after it is recorded as awaited.
	idle := r.c.depth() == 0
	cut := now.Add(-r.b.o.AnalysisMaxAge)
	var out []ready
	var next time.Time
	keep := r.waiting[:0]
	for _, w := range r.waiting {
		sa, ok, expired := r.c.aw.get(w.a.Seq)
		switch {
		case expired:
			r.b.m.annTooOld.Inc()
		case ok && time.Unix(0, sa.ev.RecvNs).Before(cut):
			r.b.m.annTooOld.Inc()
			r.c.aw.done(r.b, w.a.Seq)
		case ok:
			out = append(out, ready{a: w.a, sa: sa})
			keep = append(keep, w)
		case idle || w.since.Before(cut):
		default:
			keep = append(keep, w)
			if exp := w.since.Add(r.b.o.AnalysisMaxAge); next.IsZero() || exp.Before(next) {
				next = exp
			}
		}
	}
	clear(r.waiting[len(keep):])
	r.waiting = keep
	slices.SortFunc(out, func(x, y ready) int { return cmp.Compare(y.sa.ev.Seq, x.sa.ev.Seq) })
	return out, next
}

// shown removes analyses from the waiting list and their alerts from the
// awaited ones.
func (r *annRun) shown(rs ...ready) {
	seqs := make([]uint64, len(rs))
	for i := range rs {
		seqs[i] = rs[i].a.Seq
	}
	r.waiting = slices.DeleteFunc(r.waiting, func(w waitingAnalysis) bool { return slices.Contains(seqs, w.a.Seq) })
	r.c.aw.done(r.b, seqs...)
}

func (r *annRun) lang() *texts { return lang(r.c.cfg.Load().Lang) }

// edit adds one analysis to its alert in place, or, when the alert cannot
// be edited, answers it with the analysis.
func (r *annRun) edit(ctx context.Context, x ready) {
	t := r.lang()
	body := appendAnalysisHTML(r.buf[:0], &x.a, t)
	r.buf = body
	text := x.sa.text + string(body)
	err := r.b.editText(ctx, r.c.id, x.sa.msgID, text, r.b.markup(&x.sa.ev, t))
	if err == nil {
		r.backoff = 0
		r.b.m.annEdits.Inc()
		r.observe(x.sa.msgID, true, x)
		r.shown(x)
		return
	}
	if !isAPI(err, 400) {
		if r.b.classify(ctx, r.c, err, &r.backoff) == actGone {
			r.waiting = r.waiting[:0]
		}
		return // retried while young enough
	}
	// The alert cannot be edited (too old, deleted): answer it instead.
	if _, ok := r.b.lim.waitTake(ctx, r.c.id, classSpare); !ok {
		return
	}
	p := tu.Message(tu.ID(r.c.id), strings.TrimLeft(string(body), "\n")).WithParseMode(telego.ModeHTML)
	p.ReplyParameters = &telego.ReplyParameters{MessageID: x.sa.msgID, AllowSendingWithoutReply: true}
	if msg, err := r.b.sendMessage(ctx, r.c.id, p); err != nil {
		r.b.log.Warn("cannot reply to alert with analysis", "chat", r.c.id, "seq", x.a.Seq, "err", err)
		if r.b.classify(ctx, r.c, err, &r.backoff) != actDrop {
			return
		}
	} else {
		r.b.m.annReplies.Inc()
		r.observe(msg.MessageID, false, x)
	}
	r.shown(x)
}

// combined sends one reply, under the newest alert, that carries several
// analyses (newest first), each headed by its alert's line.
func (r *annRun) combined(ctx context.Context, rs []ready) {
	t := r.lang()
	dst := append(r.buf[:0], "🧠 <b>"...)
	head := len(dst)
	var used []ready
	for _, x := range rs {
		if len(used) == combinedMax {
			break
		}
		n := len(dst)
		dst = append(dst, "\n\n"...)
		dst = appendAlertLine(dst, &x.sa.ev, t)
		dst = append(dst, '\n')
		dst = appendAnalysisBody(dst, &x.a, t)
		if len(dst) > MaxText-200 && len(used) > 0 {
			dst = dst[:n] // the rest go in the next reply
			break
		}
		used = append(used, x)
	}
	title := strings.Replace(t.AnalysesTitle, "%d", strconv.Itoa(len(used)), 1)
	dst = append(dst[:head], append([]byte(escape(title)+"</b>"), dst[head:]...)...)
	r.buf = dst
	p := tu.Message(tu.ID(r.c.id), string(dst)).WithParseMode(telego.ModeHTML)
	p.LinkPreviewOptions = &telego.LinkPreviewOptions{IsDisabled: true}
	p.ReplyParameters = &telego.ReplyParameters{MessageID: used[0].sa.msgID, AllowSendingWithoutReply: true}
	msg, err := r.b.sendMessage(ctx, r.c.id, p)
	if err != nil {
		switch r.b.classify(ctx, r.c, err, &r.backoff) {
		case actGone:
			r.waiting = r.waiting[:0]
		case actDrop:
			r.shown(used...)
		}
		return
	}
	r.backoff = 0
	r.b.m.annCombined.Inc()
	r.b.m.annInCombined.Add(len(used))
	r.observe(msg.MessageID, false, used...)
	r.shown(used...)
}

// observe tells Options.Observer that rs reached the chat in msgID.
func (r *annRun) observe(msgID int, edit bool, rs ...ready) {
	obs := r.b.o.Observer.Analyses
	if obs == nil {
		return
	}
	seqs := make([]uint64, len(rs))
	for i := range rs {
		seqs[i] = rs[i].a.Seq
	}
	obs(r.c.id, msgID, edit, seqs)
}

// close makes a digest's closing edit.
func (r *annRun) close(ctx context.Context, e closingEdit) {
	if err := r.b.editText(ctx, r.c.id, e.msgID, e.text, nil); err == nil {
		r.b.m.edits.Inc()
	} else if r.b.classify(ctx, r.c, err, &r.backoff) == actRetry {
		r.c.aw.closeDigest(r.c, e)
	}
}
