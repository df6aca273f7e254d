package telegram

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mymmrac/telego"
	telegoapi "github.com/mymmrac/telego/telegoapi"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
)

const (
	sentKeep    = 512 // alert message ids kept per chat for later edits
	maxBackoff  = 30 * time.Second
	baseBackoff = 500 * time.Millisecond
)

// chatRun is the scheduler's own state for one chat; only its goroutine
// touches it.
type chatRun struct {
	b       *Bot
	c       *chat
	pending []event.Event // accepted, not yet delivered in any form; mirrored in the outbox
	saved   int           // len(pending) at the last outbox save, -1 = unknown
	dirty   bool
	sent    map[uint64]sentAlert
	order   []uint64 // sent keys, oldest first
	dg      *digest  // the open cascade digest, nil if none
	// over holds alerts that found the chat's queue full, already folded
	// (see chat.push): they join the next digest so its totals stay equal
	// to the alerts even when the queue overflows.
	over digest
	// lastAlert is when the chat's last alert or digest was sent: analysis
	// edits wait for a lull after it (see slotFreeUnlessAlert).
	lastAlert time.Time
	backoff   time.Duration
	buf       []byte
}

type sentAlert struct {
	msgID int
	text  string
	ev    event.Event
}

func (b *Bot) runChat(ctx context.Context, c *chat) {
	r := &chatRun{b: b, c: c, pending: make([]event.Event, 0, b.o.QueueSize), sent: map[uint64]sentAlert{}, buf: make([]byte, 0, 1024)}
	r.loadOutbox()
	r.c.pending.Store(int64(len(r.pending)))
	for ctx.Err() == nil {
		r.pull()
		if len(r.pending) == 0 && r.over.count == 0 {
			if r.annotateOne(ctx) {
				continue
			}
			if r.dg != nil {
				if idle := time.Since(r.dg.lastFold); idle >= b.o.CascadeIdle {
					r.closeDigest(ctx)
					continue
				}
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
		r.saveOutbox()
	}
}

// pull moves waiting events from the chat's queue into pending and saves
// the outbox when that changed it.
func (r *chatRun) pull() {
	r.c.takeOverflow(&r.over)
	n := len(r.pending)
	r.pending = r.c.drain(r.pending, cap(r.pending)-len(r.pending))
	if len(r.pending) != n {
		r.dirty = true
		r.c.pending.Store(int64(len(r.pending)))
	}
	r.saveOutbox()
}

// wait books the chat's next slot and sleeps until it.
func (r *chatRun) wait(ctx context.Context) bool {
	return sleepUntil(ctx, r.b.lim.reserve(r.c.id, time.Now()))
}

func (r *chatRun) lang() *texts { return lang(r.c.cfg.Load().Lang) }

func (r *chatRun) markup(ev *event.Event, t *texts) *telego.InlineKeyboardMarkup {
	sym := ev.Symbol.String()
	return tu.InlineKeyboard(tu.InlineKeyboardRow(
		tu.InlineKeyboardButton(strings.Replace(t.MuteButton, "%s", sym, 1)).WithCallbackData("mute:"+sym+":1h"),
		tu.InlineKeyboardButton(t.ChartButton).WithURL(chartURL(ev.Venue, ev.Market, sym)),
	))
}

func (r *chatRun) sendAlert(ctx context.Context) {
	ev := &r.pending[0]
	t := r.lang()
	now := time.Now()
	r.buf = AppendAlertHTML(r.buf[:0], ev, t, now)
	text := string(r.buf)
	p := tu.Message(tu.ID(r.c.id), text).WithParseMode(telego.ModeHTML).WithReplyMarkup(r.markup(ev, t))
	p.LinkPreviewOptions = &telego.LinkPreviewOptions{IsDisabled: true}
	r.b.m.handoff.UpdateDuration(time.Unix(0, ev.RecvNs))
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
	r.lastAlert = time.Now()
	r.b.m.sent.Inc()
	r.remember(ev, msg.MessageID, text)
	r.delivered(ev)
	r.shift(1)
}

func (r *chatRun) delivered(ev *event.Event) {
	now := time.Now().UnixNano()
	r.b.lat.add(ev.RecvNs, now-ev.RecvNs)
	if ev.TimeMs > 0 && ev.Flags&event.FlagReplay == 0 {
		// Exchange time to Telegram's answer: what the trader waits for.
		// Redelivered events would only measure the restart.
		r.b.m.endToEnd.Update(float64(now-ev.TimeMs*1e6) / 1e9)
	}
	if r.b.o.Acker != nil {
		r.b.o.Acker.Ack("telegram:"+strconv.FormatInt(r.c.id, 10), ev.Seq)
	}
}

func (r *chatRun) shift(n int) {
	r.pending = r.pending[:copy(r.pending, r.pending[n:])]
	r.dirty = true
	r.c.pending.Store(int64(len(r.pending)))
}

// forget drops everything after the chat went away (403).
func (r *chatRun) forget() {
	r.pending = r.pending[:0]
	r.c.pending.Store(0)
	r.dg = nil
	r.dirty = true
	for len(r.c.drain(r.pending[:0], cap(r.pending))) > 0 {
	}
}

func (r *chatRun) remember(ev *event.Event, msgID int, text string) {
	if len(r.order) == sentKeep {
		delete(r.sent, r.order[0])
		r.order = append(r.order[:0], r.order[1:]...)
	}
	r.sent[ev.Seq] = sentAlert{msgID: msgID, text: text, ev: *ev}
	r.order = append(r.order, ev.Seq)
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
	r.lastAlert = d.lastFold
	r.over = digest{}
	for i := range r.pending {
		r.delivered(&r.pending[i])
	}
	r.dg = &d
	r.shift(len(r.pending))
}

// closeDigest makes a last edit without the "still going" line once the
// cascade has been quiet for CascadeIdle.
func (r *chatRun) closeDigest(ctx context.Context) {
	d := r.dg
	r.dg = nil
	if d.msgID == 0 || !r.wait(ctx) {
		return
	}
	text := string(d.appendHTML(r.buf[:0], r.lang(), false))
	if err := r.b.editText(ctx, r.c.id, d.msgID, text, nil); err == nil {
		r.b.m.edits.Inc()
	}
}

// slotFreeUnlessAlert waits, without booking it, until an analysis edit
// may take the chat's next send slot. It returns false as soon as an alert
// is waiting, so that an edit never makes a raw alert wait a slot behind it:
// the LLM must never slow the alert. Edits also use only spare capacity:
// a slot is spare once the chat has sent no alert for two slots, so while
// alerts keep coming (a chat near Telegram's one message a second) edits
// wait for the lull instead of taking the slots alerts will need. It
// returns true on ctx's end so the caller's own wait notices it.
func (r *chatRun) slotFreeUnlessAlert(ctx context.Context) bool {
	for {
		if r.c.hasQueued() {
			return false
		}
		at := r.b.lim.peek(r.c.id, time.Now())
		if lull := r.lastAlert.Add(2 * r.b.o.Limits.PerChat); lull.After(at) {
			at = lull
		}
		d := time.Until(at)
		if d <= 0 {
			return true
		}
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return true
		case <-r.c.wake:
			// Consumed here: the main loop pulls the queue and the
			// analyses itself after we return, so nothing is lost.
			tm.Stop()
		case <-tm.C:
		}
	}
}

// annotateOne edits one alert with its analysis; it reports whether it
// took an annotation off the queue.
func (r *chatRun) annotateOne(ctx context.Context) bool {
	a, ok := r.c.takeAnalysis()
	if !ok {
		return false
	}
	sa, ok := r.sent[a.Seq]
	if !ok {
		return true // not sent here on its own (filtered, or folded into a digest)
	}
	t := r.lang()
	body := appendAnalysisHTML(nil, &a, t)
	text := sa.text + string(body)
	if !r.slotFreeUnlessAlert(ctx) {
		// An alert arrived while the edit waited: it takes the slot, and the
		// analysis goes back to the front of its queue.
		r.c.unshiftAnalysis(a)
		return true
	}
	if !r.wait(ctx) {
		return true
	}
	err := r.b.editText(ctx, r.c.id, sa.msgID, text, r.markup(&sa.ev, t))
	if err == nil {
		r.b.m.annEdits.Inc()
		sa.text = text
		r.sent[a.Seq] = sa
		return true
	}
	if !isAPI(err, 400) {
		r.b.log.Warn("cannot edit alert with analysis", "chat", r.c.id, "seq", a.Seq, "err", err)
		return true
	}
	// The alert cannot be edited (too old, deleted): answer it instead.
	if !r.wait(ctx) {
		return true
	}
	p := tu.Message(tu.ID(r.c.id), strings.TrimLeft(string(body), "\n")).WithParseMode(telego.ModeHTML)
	p.ReplyParameters = &telego.ReplyParameters{MessageID: sa.msgID, AllowSendingWithoutReply: true}
	if _, err := r.b.sendMessage(ctx, r.c.id, p); err == nil {
		r.b.m.annReplies.Inc()
	} else {
		r.b.log.Warn("cannot reply to alert with analysis", "chat", r.c.id, "seq", a.Seq, "err", err)
	}
	return true
}

type action int

const (
	actRetry action = iota
	actDrop
	actGone
)

// classify decides what a failed request means and applies its side
// effects: a 429 pushes the chat's next slot back by retry_after, a 403
// unsubscribes the chat, 5xx and network errors back off exponentially.
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
			b.lim.penalize(c.id, time.Now().Add(wait))
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
	if *backoff == 0 {
		*backoff = baseBackoff
	} else if *backoff *= 2; *backoff > maxBackoff {
		*backoff = maxBackoff
	}
	b.lim.penalize(c.id, time.Now().Add(*backoff))
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

// digest summarises a cascade: what one edited-in-place message says.
type digest struct {
	msgID    int
	count    int
	unknown  int // alerts whose USD size is unknown
	usd      [3]float64
	n        [3]int
	top      [5]event.Event
	ntop     int
	firstMs  int64
	lastMs   int64
	lastFold time.Time
}

func (d *digest) fold(ev *event.Event) {
	d.count++
	side := ev.Side
	if side > event.Short {
		side = event.SideUnknown
	}
	d.n[side]++
	if ev.NotionalKnown() {
		d.usd[side] += ev.Notional
	} else {
		d.unknown++
	}
	if d.firstMs == 0 || ev.TimeMs < d.firstMs {
		d.firstMs = ev.TimeMs
	}
	if ev.TimeMs > d.lastMs {
		d.lastMs = ev.TimeMs
	}
	if ev.NotionalKnown() {
		d.insertTop(ev)
	}
}

// insertTop keeps d.top the largest alerts, largest first. An insertion
// step over five entries, so folding allocates nothing: it also runs on the
// pipeline goroutine when a chat's queue is full.
func (d *digest) insertTop(ev *event.Event) {
	i := d.ntop
	if i == len(d.top) {
		if ev.Notional <= d.top[i-1].Notional {
			return
		}
		i--
	} else {
		d.ntop++
	}
	for ; i > 0 && d.top[i-1].Notional < ev.Notional; i-- {
		d.top[i] = d.top[i-1]
	}
	d.top[i] = *ev
}

// merge adds o's alerts to d (o is a digest that was never sent).
func (d *digest) merge(o *digest) {
	if o.count == 0 {
		return
	}
	d.count += o.count
	d.unknown += o.unknown
	for i := range d.usd {
		d.usd[i] += o.usd[i]
		d.n[i] += o.n[i]
	}
	if d.firstMs == 0 || (o.firstMs != 0 && o.firstMs < d.firstMs) {
		d.firstMs = o.firstMs
	}
	if o.lastMs > d.lastMs {
		d.lastMs = o.lastMs
	}
	for i := 0; i < o.ntop; i++ {
		d.insertTop(&o.top[i])
	}
}

// total is the sum of all known USD in the digest.
func (d *digest) total() float64 { return d.usd[0] + d.usd[1] + d.usd[2] }

func (d *digest) appendHTML(dst []byte, t *texts, open bool) []byte {
	dst = append(dst, "🌊 <b>"...)
	dst = append(dst, strings.Replace(t.DigestTitle, "%d", strconv.Itoa(d.count), 1)...)
	dst = append(dst, "</b> · "...)
	dst = money.AppendUSD(dst, d.total(), t.UnknownUSD)
	dst = append(dst, "\n🔴 "...)
	dst = append(dst, t.DigestLongs...)
	dst = append(dst, ": "...)
	dst = strconv.AppendInt(dst, int64(d.n[event.Long]), 10)
	dst = append(dst, " · "...)
	dst = money.AppendUSD(dst, d.usd[event.Long], t.UnknownUSD)
	dst = append(dst, "\n🟢 "...)
	dst = append(dst, t.DigestShorts...)
	dst = append(dst, ": "...)
	dst = strconv.AppendInt(dst, int64(d.n[event.Short]), 10)
	dst = append(dst, " · "...)
	dst = money.AppendUSD(dst, d.usd[event.Short], t.UnknownUSD)
	if d.unknown > 0 {
		dst = append(dst, "\n"...)
		dst = strconv.AppendInt(dst, int64(d.unknown), 10)
		dst = append(dst, " × "...)
		dst = append(dst, t.UnknownUSD...)
		dst = append(dst, " USD"...)
	}
	if d.ntop > 0 {
		dst = append(dst, "\n<b>"...)
		dst = append(dst, t.DigestLargest...)
		dst = append(dst, ":</b>"...)
		for i := 0; i < d.ntop; i++ {
			ev := &d.top[i]
			dst = append(dst, "\n"...)
			dst = strconv.AppendInt(dst, int64(i+1), 10)
			dst = append(dst, ". "...)
			dst = append(dst, ev.Side.Upper()...)
			dst = append(dst, ' ')
			dst = appendSymbol(dst, &ev.Symbol)
			dst = append(dst, ' ')
			dst = money.AppendUSD(dst, ev.Notional, t.UnknownUSD)
			dst = append(dst, " @ "...)
			dst = money.AppendPrice(dst, ev.Price)
			dst = append(dst, " · "...)
			dst = append(dst, ev.Venue.String()...)
		}
	}
	dst = append(dst, "\n"...)
	dst = append(dst, t.DigestSpan...)
	dst = append(dst, ": "...)
	dst = appendClock(dst, d.firstMs)
	dst = append(dst, " – "...)
	dst = appendClock(dst, d.lastMs)
	if open {
		dst = append(dst, "\n<i>"...)
		dst = append(dst, t.DigestOpen...)
		dst = append(dst, "</i>"...)
	}
	return dst
}

// Outbox: the pending alerts of a chat, one KV value per chat, rewritten
// when they change. A record is fixed-size; the value starts with a
// version byte.
const (
	outboxVersion = 1
	recordSize    = 6*8 + 6 + 1 + event.SymbolCap
)

func (r *chatRun) key() []byte { return []byte(strconv.FormatInt(r.c.id, 10)) }

func (r *chatRun) saveOutbox() {
	if !r.dirty {
		return
	}
	r.dirty = false
	var err error
	if len(r.pending) == 0 {
		err = r.b.o.KV.Delete(bucketOutbox, r.key())
	} else {
		v := make([]byte, 1, 1+len(r.pending)*recordSize)
		v[0] = outboxVersion
		for i := range r.pending {
			v = appendRecord(v, &r.pending[i])
		}
		err = r.b.o.KV.Put(bucketOutbox, r.key(), v)
	}
	if err != nil {
		r.b.log.Error("cannot save telegram outbox", "chat", r.c.id, "err", err)
	}
}

func (r *chatRun) loadOutbox() {
	v, err := r.b.o.KV.Get(bucketOutbox, r.key())
	if err != nil {
		r.b.log.Error("cannot read telegram outbox", "chat", r.c.id, "err", err)
		return
	}
	if len(v) == 0 {
		return
	}
	if v[0] != outboxVersion || (len(v)-1)%recordSize != 0 {
		r.b.log.Error("ignoring telegram outbox of unknown format", "chat", r.c.id, "bytes", len(v))
		return
	}
	oldest := time.Now().Add(-r.b.o.RedeliverMaxAge).UnixNano()
	for p := v[1:]; len(p) >= recordSize && len(r.pending) < cap(r.pending); p = p[recordSize:] {
		ev := readRecord(p)
		if ev.RecvNs < oldest {
			r.b.m.skippedOld.Inc()
			continue
		}
		ev.Flags |= event.FlagReplay
		r.pending = append(r.pending, ev)
		r.b.m.redelivered.Inc()
	}
	r.dirty = true
	r.saveOutbox()
}

func appendRecord(dst []byte, ev *event.Event) []byte {
	dst = binary.BigEndian.AppendUint64(dst, ev.Seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ev.RecvNs))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ev.TimeMs))
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(ev.Price))
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(ev.Qty))
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(ev.Notional))
	dst = append(dst, byte(ev.Venue), byte(ev.Market), byte(ev.Side), byte(ev.Basis), ev.Conn, byte(ev.Flags))
	dst = append(dst, byte(ev.Symbol.Len()))
	var sym [event.SymbolCap]byte
	copy(sym[:], ev.Symbol.Bytes())
	return append(dst, sym[:]...)
}

func readRecord(p []byte) event.Event {
	var ev event.Event
	ev.Seq = binary.BigEndian.Uint64(p[0:])
	ev.RecvNs = int64(binary.BigEndian.Uint64(p[8:]))
	ev.TimeMs = int64(binary.BigEndian.Uint64(p[16:]))
	ev.Price = math.Float64frombits(binary.BigEndian.Uint64(p[24:]))
	ev.Qty = math.Float64frombits(binary.BigEndian.Uint64(p[32:]))
	ev.Notional = math.Float64frombits(binary.BigEndian.Uint64(p[40:]))
	ev.Venue, ev.Market, ev.Side, ev.Basis = event.Venue(p[48]), event.Market(p[49]), event.Side(p[50]), event.Basis(p[51])
	ev.Conn, ev.Flags = p[52], event.Flags(p[53])
	n := int(p[54])
	if n > event.SymbolCap {
		n = event.SymbolCap
	}
	ev.Symbol = event.MakeSymbol(string(p[55 : 55+n]))
	return ev
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
