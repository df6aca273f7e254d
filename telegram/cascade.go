package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
)

// How a cascade reaches a chat. The rule engine (package cascade) calls
// CascadeOpened on the pipeline's goroutine the moment a chat's rule
// crosses; the chat's alert goroutine sends it as a raw alert is sent,
// before the alerts waiting behind it (the same budget class, so an
// analysis or an edit never delays it). From then on the one message is
// kept current: CascadeUpdated hands the engine's latest snapshot, and the
// chat's analysis goroutine edits the message from the budget's spare
// capacity (never the reserve of raw alerts), at most every
// Options.CascadeEdit (longer for long windows), and once more with the
// final summary when CascadeClosed comes. The cascade's analysis is added
// by one of those edits.
//
// Each sent cascade message is kept in the log (bucketCascades, through
// AsyncKV, never before a send), so that after a restart the engine's
// cascades still open, rebuilt from the log and marked Resumed, continue
// in the same messages, and the messages of cascades that ended while the
// box was down get a closing line.

// bucketCascades holds, per chat (key: the chat id in decimal), the
// cascade messages being kept current, as JSON.
var bucketCascades = []byte("telegram_cascades")

// RuleSetter takes each chat's cascade rules (the cascade.Engine).
type RuleSetter interface {
	SetRules(owner int64, rules []cascade.Rule)
}

// cascadeRecord is a cascade message as the log keeps it.
type cascadeRecord struct {
	Rule    storedRule `json:"rule"`
	MsgID   int        `json:"msg_id"`
	StartNs int64      `json:"start_ns"`
	// Body is the message without its status line, for a closing line
	// after a restart that found the cascade over.
	Body string `json:"body"`
}

// cascadeMsg is one cascade's message in a chat.
type cascadeMsg struct {
	snap     cascade.Snapshot
	msgID    int       // 0 until sent
	shown    uint64    // the snapshot version the message shows
	lastEdit time.Time // when it was last sent or edited
	closed   bool      // the final snapshot is in
	analysis *event.Analysis
	annShown bool
	body     string // the last text sent, without its status line
	orphan   bool   // restored from the log, its cascade over: one closing edit
}

// cascadeBox is a chat's cascades, shared by the engine's calls (any
// goroutine) and the chat's two goroutines.
type cascadeBox struct {
	mu       sync.Mutex // guards everything below
	msgs     map[uint64]*cascadeMsg
	toSend   []uint64 // opened, in order, not yet sent
	restored map[cascade.Rule]cascadeRecord
	nextOrph uint64
}

func (x *cascadeBox) init() {
	x.msgs = map[uint64]*cascadeMsg{}
	x.restored = map[cascade.Rule]cascadeRecord{}
}

// maxCascadeMsgs bounds a chat's cascades in flight: per rule, one
// closing and the next one opening, and the restored ones; four per rule
// leaves room, for at least MaxRules rules.
func maxCascadeMsgs(rules int) int { return 4 * max(rules, cascade.MaxRules) }

// orphanBit marks the ids of restored messages, apart from the engine's.
const orphanBit = 1 << 63

// opened takes a new cascade, of a chat with rules rules; it reports
// whether the alert goroutine must send it (false when it continues a
// restored message, or is dropped).
func (x *cascadeBox) opened(s *cascade.Snapshot, rules int) (send, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if s.Resumed {
		if rec, found := x.restored[s.Rule]; found {
			delete(x.restored, s.Rule)
			x.msgs[s.ID] = &cascadeMsg{snap: *s, msgID: rec.MsgID, body: rec.Body}
			return false, true
		}
	}
	if len(x.msgs) >= maxCascadeMsgs(rules) {
		return false, false
	}
	x.msgs[s.ID] = &cascadeMsg{snap: *s}
	x.toSend = append(x.toSend, s.ID)
	return true, true
}

// update takes a newer snapshot of a cascade the chat has.
func (x *cascadeBox) update(s *cascade.Snapshot, final bool) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.msgs[s.ID]
	if m == nil {
		return false
	}
	m.snap = *s
	m.closed = m.closed || final
	return true
}

func (x *cascadeBox) setAnalysis(id uint64, a event.Analysis) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.msgs[id]
	if m == nil {
		return false
	}
	m.analysis, m.annShown = &a, false
	return true
}

func (x *cascadeBox) hasToSend() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.toSend) > 0
}

// next returns a copy of the first cascade waiting to be sent.
func (x *cascadeBox) next() (cascadeMsg, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.toSend) == 0 {
		return cascadeMsg{}, false
	}
	return *x.msgs[x.toSend[0]], true
}

// sent records that id's message went out, showing version with body.
func (x *cascadeBox) sent(id uint64, msgID int, shown cascadeMsg, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.toSend = slices.DeleteFunc(x.toSend, func(y uint64) bool { return y == id })
	m := x.msgs[id]
	if m == nil {
		return
	}
	m.msgID, m.lastEdit = msgID, now
	x.shownLocked(m, shown)
}

func (x *cascadeBox) shownLocked(m *cascadeMsg, shown cascadeMsg) {
	m.shown, m.body = shown.snap.Version, shown.body
	if shown.analysis != nil && m.analysis == shown.analysis {
		m.annShown = true
	}
	if shown.closed && m.shown == m.snap.Version && (m.analysis == nil || m.annShown) {
		delete(x.msgs, shown.snap.ID)
	}
}

// edited records an edit of id's message that showed shown.
func (x *cascadeBox) edited(id uint64, shown cascadeMsg, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.msgs[id]
	if m == nil {
		return
	}
	m.lastEdit = now
	if m.orphan {
		delete(x.msgs, id)
		return
	}
	x.shownLocked(m, shown)
}

// forget drops id (its message cannot be sent or edited).
func (x *cascadeBox) forget(id uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.msgs, id)
	x.toSend = slices.DeleteFunc(x.toSend, func(y uint64) bool { return y == id })
}

func (x *cascadeBox) clear() {
	x.mu.Lock()
	defer x.mu.Unlock()
	clear(x.msgs)
	x.toSend = x.toSend[:0]
}

// editEvery is the least time between two edits of a cascade's message:
// least, longer for long windows (a day-long rule's cascade is edited at
// most every 10×least).
func editEvery(r cascade.Rule, least time.Duration) time.Duration {
	return min(max(r.Window/100, least), 10*least)
}

// due returns a copy of the sent message most overdue for an edit, and
// when the next one will be due (zero if none waits).
func (x *cascadeBox) due(now time.Time, least time.Duration) (m cascadeMsg, ok bool, next time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var best *cascadeMsg
	var bestAt time.Time
	for _, c := range x.msgs {
		if c.msgID == 0 {
			continue
		}
		stale := c.orphan || c.snap.Version != c.shown || (c.analysis != nil && !c.annShown)
		if !stale {
			continue
		}
		at := c.lastEdit.Add(editEvery(c.snap.Rule, least))
		if c.closed || c.orphan {
			at = c.lastEdit // the last word goes as soon as the budget allows
		}
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		if best == nil || at.Before(bestAt) {
			best, bestAt = c, at
		}
	}
	if best == nil {
		return cascadeMsg{}, false, next
	}
	return *best, true, next
}

// records returns what the log keeps of the chat's sent messages.
func (x *cascadeBox) records() []cascadeRecord {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []cascadeRecord
	for _, m := range x.msgs {
		if m.msgID == 0 {
			continue // an orphan stays until its closing line is out
		}
		out = append(out, cascadeRecord{Rule: storeRule(m.snap.Rule), MsgID: m.msgID, StartNs: m.snap.StartNs, Body: m.body})
	}
	for _, rec := range x.restored {
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b cascadeRecord) int { return a.MsgID - b.MsgID })
	return out
}

// persistCascades queues the chat's cascade messages for the log's next
// batch.
func (b *Bot) persistCascades(c *chat) {
	if b.o.AsyncKV == nil {
		return
	}
	v, err := json.Marshal(c.casc.records())
	if err == nil {
		err = b.o.AsyncKV.PutAsync(bucketCascades, []byte(strconv.FormatInt(c.id, 10)), v)
	}
	if err != nil {
		b.logPersistError(err)
	}
}

// loadCascades reads back the cascade messages the last run kept current.
// A record that cannot be read is skipped (logged and counted): its
// messages get no closing line. b.mu must be held (or b not yet shared).
func (b *Bot) loadCascades() error {
	err := b.o.KV.ForEach(bucketCascades, func(k, v []byte) error {
		id, err := strconv.ParseInt(string(k), 10, 64)
		if err != nil {
			b.badRecord(recCascades, k, fmt.Errorf("cannot parse chat id: %w", err))
			return nil
		}
		c := b.chats[id]
		if c == nil {
			return nil
		}
		recs, dropped, err := decodeCascades(v)
		if err != nil {
			b.badRecord(recCascades, k, err)
			return nil
		}
		if dropped > 0 {
			b.badRecord(recCascades, k, fmt.Errorf("%d of the chat's cascade messages name no valid rule or message", dropped))
		}
		for _, rec := range recs {
			r, _ := rec.Rule.rule() // decodeCascades kept only valid ones
			c.casc.restored[r] = rec
		}
		return nil
	})
	b.skipped.summary(recCascades)
	return err
}

// CascadeSeedFrom is the earliest start of a cascade whose message the
// last run was keeping current (zero if none): the rule engine is rebuilt
// from the log back to it, so the message goes on with the same totals.
func (b *Bot) CascadeSeedFrom() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	var from int64
	for _, c := range b.chats {
		c.casc.mu.Lock()
		for _, rec := range c.casc.restored {
			if rec.StartNs > 0 && (from == 0 || rec.StartNs < from) {
				from = rec.StartNs
			}
		}
		c.casc.mu.Unlock()
	}
	if from == 0 {
		return time.Time{}
	}
	return time.Unix(0, from)
}

// CascadesRestored ends the restart's hand-over, once the engine has been
// rebuilt from the log (and has handed on, marked Resumed, every cascade
// still open): the messages of cascades that were not resumed ended while
// the box was down, and get a closing line.
func (b *Bot) CascadesRestored() {
	list := b.active.Load()
	if list == nil {
		return
	}
	for _, c := range *list {
		c.casc.mu.Lock()
		n := 0
		for r, rec := range c.casc.restored {
			c.casc.nextOrph++
			id := orphanBit | c.casc.nextOrph
			c.casc.msgs[id] = &cascadeMsg{snap: cascade.Snapshot{ID: id, Rule: r}, msgID: rec.MsgID, body: rec.Body, orphan: true, closed: true}
			delete(c.casc.restored, r)
			n++
		}
		c.casc.mu.Unlock()
		if n > 0 {
			c.signalAnn()
		}
	}
}

// activeChat returns the subscribed chat id, without taking b.mu: the
// engine calls with its own lock held while a command may hold b.mu and
// wait for the engine.
func (b *Bot) activeChat(id int64) *chat {
	if list := b.active.Load(); list != nil {
		for _, c := range *list {
			if c.id == id {
				return c
			}
		}
	}
	return nil
}

// LateSink is a cascade.Sink for a rule engine built before its Bot (the
// Bot's New hands the chats' rules to the engine): what comes before
// SetBot is dropped. The service has its own fanout, which also asks for
// the analysis; the log replay and the tests use this.
type LateSink struct {
	mu sync.Mutex // guards b
	b  *Bot
}

// SetBot sends what the engine fires from now on to b.
func (s *LateSink) SetBot(b *Bot) {
	s.mu.Lock()
	s.b = b
	s.mu.Unlock()
}

func (s *LateSink) bot() *Bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b
}

// Opened implements cascade.Sink.
func (s *LateSink) Opened(x *cascade.Snapshot) {
	if b := s.bot(); b != nil {
		b.CascadeOpened(x)
	}
}

// Updated implements cascade.Sink.
func (s *LateSink) Updated(x *cascade.Snapshot) {
	if b := s.bot(); b != nil {
		b.CascadeUpdated(x)
	}
}

// Closed implements cascade.Sink.
func (s *LateSink) Closed(x *cascade.Snapshot) {
	if b := s.bot(); b != nil {
		b.CascadeClosed(x)
	}
}

// CascadeOpened takes a cascade the engine just fired for one chat (its
// Owner). It never blocks: the chat's alert goroutine sends it.
func (b *Bot) CascadeOpened(s *cascade.Snapshot) {
	c := b.activeChat(s.Owner)
	if c == nil {
		return
	}
	send, ok := c.casc.opened(s, len(b.chatRules(c.cfg.Load())))
	switch {
	case !ok:
		b.m.cascDropped.Inc()
	case send:
		c.signal()
	default:
		b.m.cascResumed.Inc()
		c.signalAnn()
	}
}

// CascadeUpdated takes a newer snapshot; the message is edited when the
// chat's budget and the edit interval allow.
func (b *Bot) CascadeUpdated(s *cascade.Snapshot) {
	if c := b.activeChat(s.Owner); c != nil && c.casc.update(s, false) {
		c.signalAnn()
	}
}

// CascadeClosed takes a cascade's final snapshot: its message gets the
// final summary.
func (b *Bot) CascadeClosed(s *cascade.Snapshot) {
	if c := b.activeChat(s.Owner); c != nil && c.casc.update(s, true) {
		c.signalAnn()
	}
}

// CascadeAnalysis adds the analysis of cascade id to owner's message.
func (b *Bot) CascadeAnalysis(owner int64, id uint64, a event.Analysis) {
	if c := b.activeChat(owner); c != nil && c.casc.setAnalysis(id, a) {
		c.signalAnn()
	}
}

// publishRules hands the chat's cascade rules to the engine: its own, or
// the configured defaults until it sets its own; none while it is
// stopped. Call it without holding b.mu.
func (b *Bot) publishRules(c *chat) {
	if b.o.Cascades == nil {
		return
	}
	b.o.Cascades.SetRules(c.id, b.chatRules(c.cfg.Load()))
}

func (b *Bot) chatRules(s *settings) []cascade.Rule {
	if !s.Subscribed {
		return nil
	}
	return b.ownRules(s)
}

// ownRules are the chat's rules, whether or not it is subscribed.
func (b *Bot) ownRules(s *settings) []cascade.Rule {
	if s.CascadesSet {
		return s.rules
	}
	return b.o.CascadeRules
}

// sendCascade sends the first waiting cascade of the chat as a raw alert
// is sent: it waits for the budget's alert class, then sends the latest
// snapshot.
func (r *chatRun) sendCascade(ctx context.Context) {
	if !r.wait(ctx) {
		return
	}
	m, ok := r.c.casc.next()
	if !ok {
		return
	}
	t := r.lang()
	var body []byte
	r.buf, body = appendCascadeHTML(r.buf[:0], &m, t, time.Now())
	p := tu.Message(tu.ID(r.c.id), string(r.buf)).WithParseMode(telego.ModeHTML)
	p.LinkPreviewOptions = &telego.LinkPreviewOptions{IsDisabled: true}
	r.b.m.cascHandoff.UpdateDuration(time.Unix(0, m.snap.FiredNs))
	msg, err := r.b.sendMessage(ctx, r.c.id, p)
	if err != nil {
		switch r.b.classify(ctx, r.c, err, &r.backoff) {
		case actDrop:
			r.c.casc.forget(m.snap.ID)
		case actGone:
			r.forget()
		}
		return
	}
	r.backoff = 0
	r.b.m.cascSent.Inc()
	m.body = string(body)
	r.c.casc.sent(m.snap.ID, msg.MessageID, m, time.Now())
	r.b.persistCascades(r.c)
	r.c.signalAnn() // its edits are the analysis goroutine's from now on
}

// editCascade makes the most overdue edit of a cascade message; the spare
// budget for it is already taken.
func (r *annRun) editCascade(ctx context.Context, m cascadeMsg) {
	t := r.lang()
	var text, body []byte
	if m.orphan {
		text = append(append(append([]byte(m.body), "\n<i>"...), escape(t.CascadeDown)...), "</i>"...)
	} else {
		text, body = appendCascadeHTML(r.buf[:0], &m, t, time.Now())
		r.buf = text
	}
	err := r.b.editText(ctx, r.c.id, m.msgID, string(text), nil)
	if err != nil {
		if isAPI(err, 400) {
			// Deleted, or too old to edit: nothing more to show there.
			r.b.log.Warn("cannot edit a cascade message; it gets no more updates", "chat", r.c.id, "err", err)
			r.c.casc.forget(m.snap.ID)
			r.b.persistCascades(r.c)
			return
		}
		if r.b.classify(ctx, r.c, err, &r.backoff) == actGone {
			r.c.casc.clear()
		}
		return
	}
	r.backoff = 0
	r.b.m.cascEdits.Inc()
	m.body = string(body)
	r.c.casc.edited(m.snap.ID, m, time.Now())
	r.b.persistCascades(r.c)
}

// CascadeMessage is a cascade's message as a chat in lang is sent it (its
// final summary when closed), in Telegram HTML, or as plain text for a
// terminal: what `liqbox replay` shows.
func CascadeMessage(s *cascade.Snapshot, closed bool, code string, plain bool) string {
	m := cascadeMsg{snap: *s, closed: closed, msgID: 1}
	text, _ := appendCascadeHTML(nil, &m, lang(code), time.Unix(0, s.LastNs))
	if plain {
		return stripTags(string(text))
	}
	return string(text)
}

// RuleWords is a cascade rule in words in lang, as /cascade echoes it.
func RuleWords(r cascade.Rule, code string) string { return ruleWords(r, lang(code)) }

// StoredCascadeRules reads from kv (the log) the cascade rules every chat
// set with /cascade; a chat that set none has the configured defaults and
// is not listed. A record that cannot be read is skipped with a line in
// slog's default log.
func StoredCascadeRules(kv KV) (map[int64][]cascade.Rule, error) {
	out := map[int64][]cascade.Rule{}
	skipped := newSkippedRecords(slog.Default().With("component", "telegram"))
	err := forEachSettings(kv, func() *settings { return &settings{Lang: "en"} }, func(id int64, s *settings) {
		if s.CascadesSet {
			out[id] = s.prepare().rules
		}
	}, func(k []byte, err error) { skipped.skip(recChat, k, err) })
	skipped.summary(recChat)
	if err != nil {
		return nil, fmt.Errorf("cannot read the chats' cascade rules: %w", err)
	}
	return out, nil
}

// ruleWords is a rule in words, in t's language: "Alert when $10M of BTC
// positions are liquidated within 5 min, all venues, both sides."
func ruleWords(r cascade.Rule, t *texts) string {
	var what string
	side := event.SideUnknown
	switch r.Sides {
	case cascade.Longs:
		side = event.Long
	case cascade.Shorts:
		side = event.Short
	}
	switch {
	case r.All() && side == event.SideUnknown:
		what = t.RuleMarket
	case r.All():
		what = fmt.Sprintf(t.RuleMarketSide, t.RuleSide[side])
	case side == event.SideUnknown:
		what = fmt.Sprintf(t.RuleAsset, r.Asset.String())
	default:
		what = fmt.Sprintf(t.RuleAssetSide, r.Asset.String(), t.RuleSide[side])
	}
	both := ""
	if side == event.SideUnknown {
		both = t.RuleBoth
	}
	return fmt.Sprintf(t.RuleEcho, usd(r.USD, t.UnknownUSD), what, windowWords(r.Window, t), both)
}

// windowWords writes a window in t's units: 5 min, 1 h 30 min, 90 s.
func windowWords(d time.Duration, t *texts) string {
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var parts []string
	if h > 0 {
		parts = append(parts, strconv.Itoa(h)+" "+t.UnitHour)
	}
	if m > 0 {
		parts = append(parts, strconv.Itoa(m)+" "+t.UnitMin)
	}
	if s > 0 || len(parts) == 0 {
		parts = append(parts, strconv.Itoa(s)+" "+t.UnitSec)
	}
	return strings.Join(parts, " ")
}

// appendHMS appends a receive time as HH:MM:SS UTC.
func appendHMS(dst []byte, ns int64) []byte {
	h, m, s := time.Unix(0, ns).UTC().Clock()
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, m)
	dst = append(dst, ':')
	dst = append2(dst, s)
	return append(dst, " UTC"...)
}

// appendCascadeHTML appends a cascade's message in t's language and
// returns it with its body (the message without its status line and
// analysis, kept for a closing line after a restart). Every byte from an
// exchange is escaped; the text stays under MaxText.
func appendCascadeHTML(dst []byte, m *cascadeMsg, t *texts, now time.Time) (text, body []byte) {
	s := &m.snap
	r := s.Rule
	start := len(dst)
	switch r.Sides {
	case cascade.Longs:
		dst = append(dst, "🌊🔴 <b>"...)
	case cascade.Shorts:
		dst = append(dst, "🌊🟢 <b>"...)
	default:
		dst = append(dst, "🌊 <b>"...)
	}
	dst = appendEscaped(dst, t.CascadeTitle)
	dst = append(dst, " · "...)
	if r.All() {
		dst = appendEscaped(dst, t.CascadeMarket)
	} else {
		dst = appendEscaped(dst, r.Asset.String())
	}
	switch r.Sides {
	case cascade.Longs:
		dst = append(dst, ' ')
		dst = appendEscaped(dst, t.CascadeSides[event.Long])
	case cascade.Shorts:
		dst = append(dst, ' ')
		dst = appendEscaped(dst, t.CascadeSides[event.Short])
	}
	dst = append(dst, "</b>\n"...)
	within := fmt.Sprintf(t.CascadeWithin, usd(r.USD, t.UnknownUSD), windowWords(r.Window, t))
	dst = appendEscaped(dst, fmt.Sprintf(t.CascadeTotal, "\x00", within))
	dst = boldTotal(dst, usd(s.USD(), t.UnknownUSD))
	if s.Resumed && m.msgID == 0 {
		dst = append(dst, "\n♻️ "...)
		dst = appendEscaped(dst, t.CascadeResumed)
	}
	dst = append(dst, '\n')
	started := string(appendHMS(nil, s.StartNs))
	dst = appendEscaped(dst, fmt.Sprintf(t.CascadeStarted, started, string(appendAge(nil, s.Duration(), t)), s.Total.N+s.Unknown))
	// By venue, largest first; a sampled venue says so.
	type line struct {
		v event.Venue
		t cascade.Tally
	}
	var lines []line
	var sampled []string
	for v, tl := range s.Venues {
		if tl.N > 0 {
			lines = append(lines, line{event.Venue(v), tl})
			if s.Sampled(event.Venue(v)) {
				sampled = append(sampled, event.Venue(v).String())
			}
		}
	}
	slices.SortFunc(lines, func(a, b line) int {
		if a.t.Cents != b.t.Cents {
			return int(b.t.Cents/100 - a.t.Cents/100)
		}
		return int(a.v) - int(b.v)
	})
	if len(lines) > 0 {
		dst = append(dst, "\n<b>"...)
		dst = appendEscaped(dst, t.CascadeByVenue)
		dst = append(dst, "</b>"...)
		for _, l := range lines {
			dst = append(dst, '\n')
			dst = append(dst, l.v.String()...)
			dst = append(dst, ' ')
			dst = money.AppendUSD(dst, l.t.USD(), t.UnknownUSD)
			dst = append(dst, " ("...)
			dst = strconv.AppendInt(dst, int64(l.t.N), 10)
			dst = append(dst, ')')
			if s.Sampled(l.v) {
				dst = append(dst, " · "...)
				dst = appendEscaped(dst, t.CascadeSampled)
			}
		}
	}
	dst = appendLargest(dst, s.Largest(), t)
	if len(sampled) > 0 {
		dst = append(dst, '\n')
		dst = appendEscaped(dst, fmt.Sprintf(t.CascadeLower, strings.Join(sampled, ", ")))
	}
	if s.Unknown > 0 {
		dst = append(dst, '\n')
		dst = appendEscaped(dst, fmt.Sprintf(t.CascadeUnknown, s.Unknown))
	}
	body = dst[start:]
	dst = append(dst, "\n<i>"...)
	win := windowWords(r.Window, t)
	switch {
	case m.closed:
		end := s.OverNs()
		if end == 0 {
			end = now.UnixNano()
		}
		dst = appendEscaped(dst, fmt.Sprintf(t.CascadeClosed, string(appendHMS(nil, end)), string(appendAge(nil, s.Duration(), t)),
			usd(s.PeakUSD(), t.UnknownUSD), win))
		if s.Removed {
			dst = append(dst, ' ')
			dst = appendEscaped(dst, t.CascadeRemoved)
		}
	case s.State == cascade.Fading:
		dst = appendEscaped(dst, fmt.Sprintf(t.CascadeFading, string(appendHMS(nil, s.BelowNs)),
			string(appendHMS(nil, s.BelowNs+int64(r.Quiet())))))
	default:
		dst = appendEscaped(dst, fmt.Sprintf(t.CascadeOpen, win, usd(s.WindowUSD(), t.UnknownUSD), usd(s.PeakUSD(), t.UnknownUSD),
			string(appendHMS(nil, now.UnixNano()))))
	}
	dst = append(dst, "</i>"...)
	if m.analysis != nil && len(dst)-start < MaxText-2200 {
		dst = append(dst, "\n\n"...)
		dst = appendAnalysisBody(dst, m.analysis, t)
	}
	return dst, []byte(string(body))
}

// boldTotal replaces the NUL placeholder a translated line holds for the
// total with the total in bold, so each language may place it where its
// grammar wants.
func boldTotal(dst []byte, total string) []byte {
	i := strings.LastIndexByte(string(dst), 0)
	if i < 0 {
		return dst
	}
	rest := append([]byte(nil), dst[i+1:]...)
	dst = append(dst[:i], "<b>"...)
	dst = append(dst, total...)
	dst = append(dst, "</b>"...)
	return append(dst, rest...)
}
