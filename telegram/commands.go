package telegram

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mymmrac/telego"
	tu "github.com/mymmrac/telego/telegoutil"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
	"github.com/liqbox/liqbox/retry"
)

const (
	// refusalEvery: a chat hears "not allowed" at most this often, however
	// many outsiders write in it.
	refusalEvery = 10 * time.Minute
	// refusalBurst refusals may go out at once in all, refilled at one per
	// refusalRefill: a flood of outsiders across many chats costs a few
	// messages a minute, never the alerts' budget.
	refusalBurst  = 5
	refusalRefill = 12 * time.Second
	// refusedKeep bounds the chats remembered as refused; beyond it (a
	// flood of distinct chats) outsiders get no answer at all.
	refusedKeep  = 4096
	refusalQueue = 64
	maxMute      = 30 * 24 * time.Hour
	buttonMute   = time.Hour
)

func (b *Bot) handleUpdate(ctx context.Context, u *telego.Update) {
	switch {
	case u.Message != nil:
		b.handleMessage(ctx, u.Message)
	case u.CallbackQuery != nil:
		b.handleCallback(ctx, u.CallbackQuery)
	}
}

// addressedToMe reports whether a command's @suffix names this bot. While
// the bot's username is unknown (getMe has not answered yet) no suffixed
// command is taken: it may be meant for another bot in the group.
func (b *Bot) addressedToMe(name string) bool {
	u := b.username.Load()
	return u != nil && strings.EqualFold(name, *u)
}

func (b *Bot) handleMessage(ctx context.Context, m *telego.Message) {
	if m.From == nil || !strings.HasPrefix(m.Text, "/") {
		return
	}
	fields := strings.Fields(m.Text)
	cmd := strings.ToLower(fields[0])
	if at := strings.IndexByte(cmd, '@'); at >= 0 {
		// /stats@liqbox_bot in groups: act only when it names us.
		to := cmd[at+1:]
		cmd = cmd[:at]
		if !b.addressedToMe(to) {
			b.m.foreignCmds.Inc()
			return
		}
	}
	args := fields[1:]
	chatID := m.Chat.ID
	if !b.allow[m.From.ID] {
		b.m.refusals.Inc()
		b.log.Debug("refused command from a user not on the allow-list", "chat", chatID, "user", m.From.ID, "command", cmd)
		b.queueRefusal(chatID)
		return
	}
	c := b.getChat(chatID)
	t := lang(c.cfg.Load().Lang)
	text := b.command(ctx, c, m.From.ID, cmd, args, t)
	if text != "" {
		b.reply(ctx, chatID, text)
	}
}

// queueRefusal hands a refusal for chat to the refusal goroutine, unless
// the chat had one within refusalEvery or the refusals' total budget is
// spent. It never blocks: commands and alerts never wait for a refusal.
func (b *Bot) queueRefusal(chat int64) {
	now := time.Now()
	b.mu.Lock()
	ok := b.mayRefuseLocked(chat, now)
	b.mu.Unlock()
	if !ok {
		b.m.refusalsQuiet.Inc()
		return
	}
	select {
	case b.refusals <- chat:
	default:
		b.m.refusalsQuiet.Inc()
	}
}

// mayRefuseLocked applies the per-chat period and the total budget, and
// books both when a refusal may go. b.mu must be held.
func (b *Bot) mayRefuseLocked(chat int64, now time.Time) bool {
	if last, seen := b.refused[chat]; seen && now.Sub(last) < refusalEvery {
		return false
	}
	if len(b.refused) >= refusedKeep {
		for id, last := range b.refused {
			if now.Sub(last) >= refusalEvery {
				delete(b.refused, id)
			}
		}
		if len(b.refused) >= refusedKeep {
			return false
		}
	}
	b.refusalTokens += float64(now.Sub(b.refusalAt)) / float64(refusalRefill)
	if b.refusalTokens > refusalBurst {
		b.refusalTokens = refusalBurst
	}
	b.refusalAt = now
	if b.refusalTokens < 1 {
		return false
	}
	b.refusalTokens--
	b.refused[chat] = now
	return true
}

// refuse sends the queued refusals until ctx ends, each when its chat's
// budget has idle capacity (classIdle), so a busy chat's refusal holds up
// neither that chat nor the others' refusals.
func (b *Bot) refuse(ctx context.Context) {
	type job struct {
		chat int64
		at   time.Time // the chat's budget allows it no earlier
	}
	var jobs []job
	for {
		var next time.Time
		keep := jobs[:0]
		for _, j := range jobs {
			now := time.Now()
			if j.at.After(now) {
				keep = append(keep, j)
			} else if ok, at := b.lim.take(j.chat, classIdle, now); !ok {
				j.at = at
				keep = append(keep, j)
			} else {
				b.sendRefusal(ctx, j.chat)
				continue
			}
			if next.IsZero() || j.at.Before(next) {
				next = j.at
			}
		}
		jobs = keep
		var timeout <-chan time.Time
		var tm *time.Timer
		if !next.IsZero() {
			tm = time.NewTimer(time.Until(next))
			timeout = tm.C
		}
		select {
		case <-ctx.Done():
		case chat := <-b.refusals:
			jobs = append(jobs, job{chat: chat})
		case <-timeout:
		}
		if tm != nil {
			tm.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// sendRefusal tells chat, in its language, that the sender may not
// command the bot.
func (b *Bot) sendRefusal(ctx context.Context, chat int64) {
	t := lang(b.o.Lang)
	if c := b.known(chat); c != nil {
		t = lang(c.cfg.Load().Lang)
	}
	p := tu.Message(tu.ID(chat), escape(t.NotAllowed)).WithParseMode(telego.ModeHTML)
	if _, err := b.sendMessage(ctx, chat, p); err != nil {
		var backoff time.Duration
		b.classify(ctx, b.getChatNoCreate(chat), err, &backoff)
		return
	}
	b.m.refusalsSent.Inc()
}

// learnUsername asks getMe for the bot's username, retrying with backoff
// (some Bot API servers refuse telego's parameterless getMe), so that
// commands with an @suffix can be told apart.
func (b *Bot) learnUsername(ctx context.Context) {
	var backoff time.Duration
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, b.o.RequestTimeout)
		me, err := b.api.GetMe(rctx)
		cancel()
		if err == nil && me != nil && me.Username != "" {
			u := me.Username
			b.username.Store(&u)
			b.log.Info("telegram bot identified", "username", u)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("getMe answered without a username")
		}
		backoff = retry.Backoff(backoff, time.Second, 5*time.Minute)
		b.log.Warn("cannot learn the bot's username: commands with an @suffix are ignored until it is known",
			"err", scrub(err, b.o.Token), "retry_in", backoff)
		if !retry.Sleep(ctx, backoff) {
			return
		}
	}
}

// known returns the chat if the bot has settings for it.
func (b *Bot) known(id int64) *chat {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.chats[id]
}

// change applies a settings change and logs it with the user id; on
// failure it returns the user-facing failure text.
func (b *Bot) change(c *chat, user int64, what string, fn func(s *settings)) bool {
	if err := b.update(c, fn); err != nil {
		b.log.Error("cannot change chat settings", "chat", c.id, "user", user, "change", what, "err", err)
		return false
	}
	b.log.Info("chat settings changed", "chat", c.id, "user", user, "change", what)
	return true
}

// command runs one command and returns the HTML reply ("" for none).
func (b *Bot) command(ctx context.Context, c *chat, user int64, cmd string, args []string, t *texts) string {
	s := c.cfg.Load()
	fail := escape(t.Failed)
	switch cmd {
	case "/start":
		if !b.change(c, user, "subscribe", func(s *settings) { s.Subscribed = true }) {
			return fail
		}
		return escape(fmt.Sprintf(t.Started, usd(s.MinUSD, t.UnknownUSD)))
	case "/stop":
		if !b.change(c, user, "unsubscribe", func(s *settings) { s.Subscribed = false }) {
			return fail
		}
		return escape(t.Stopped)
	case "/help":
		return t.Help
	case "/setthreshold":
		if len(args) != 1 {
			return escape(t.ThresholdUsage)
		}
		v, ok := money.ParseUSD(args[0])
		if !ok {
			return escape(t.ThresholdUsage)
		}
		if !b.change(c, user, "threshold "+usd(v, ""), func(s *settings) { s.MinUSD = v }) {
			return fail
		}
		return escape(fmt.Sprintf(t.ThresholdSet, usd(v, t.UnknownUSD)))
	case "/symbols":
		if len(args) == 0 {
			if len(s.Symbols) == 0 {
				return escape(t.SymbolsAll)
			}
			return escape(fmt.Sprintf(t.SymbolsShow, strings.Join(s.Symbols, ", ")))
		}
		if len(args) == 1 && strings.EqualFold(args[0], "all") {
			if !b.change(c, user, "symbols all", func(s *settings) { s.Symbols = nil }) {
				return fail
			}
			return escape(t.SymbolsAll)
		}
		syms, ok := normSymbols(args)
		if !ok || len(syms) > 50 {
			return escape(t.SymbolsUsage)
		}
		if !b.change(c, user, "symbols "+strings.Join(syms, ","), func(s *settings) { s.Symbols = syms }) {
			return fail
		}
		return escape(fmt.Sprintf(t.SymbolsShow, strings.Join(syms, ", ")))
	case "/side":
		if len(args) != 1 {
			return escape(t.SideUsage)
		}
		var sides uint8
		switch strings.ToLower(args[0]) {
		case "long", "longs":
			sides = 1 << event.Long
		case "short", "shorts":
			sides = 1 << event.Short
		case "both", "all":
		default:
			return escape(t.SideUsage)
		}
		if !b.change(c, user, "side "+strings.ToLower(args[0]), func(s *settings) { s.Sides = sides }) {
			return fail
		}
		return escape(fmt.Sprintf(t.SideSet, sidesName(sides)))
	case "/venues":
		return b.venuesCmd(c, user, args, t, s)
	case "/mute":
		if len(args) < 1 || len(args) > 2 {
			return escape(t.MuteUsage)
		}
		syms, ok := normSymbols(args[:1])
		if !ok || len(syms) != 1 {
			return escape(t.MuteUsage)
		}
		d := time.Hour
		if len(args) == 2 {
			if d, ok = parseWindow(strings.ToLower(args[1]), maxMute); !ok {
				return escape(t.MuteUsage)
			}
		}
		until := time.Now().Add(d)
		if !b.change(c, user, "mute "+syms[0]+" "+d.String(), func(s *settings) { s.Mutes[syms[0]] = until.Unix() }) {
			return fail
		}
		return escape(fmt.Sprintf(t.MuteSet, syms[0], until.UTC().Format("2006-01-02 15:04 UTC")))
	case "/unmute":
		syms, ok := normSymbols(args)
		if !ok || len(syms) != 1 {
			return escape(t.MuteUsage)
		}
		if _, muted := s.Mutes[syms[0]]; !muted {
			return escape(fmt.Sprintf(t.NotMuted, syms[0]))
		}
		if !b.change(c, user, "unmute "+syms[0], func(s *settings) { delete(s.Mutes, syms[0]) }) {
			return fail
		}
		return escape(fmt.Sprintf(t.Unmuted, syms[0]))
	case "/mutes":
		now := time.Now().Unix()
		var lines []string
		for y, until := range s.Mutes {
			if until > now {
				lines = append(lines, y+" → "+time.Unix(until, 0).UTC().Format("2006-01-02 15:04 UTC"))
			}
		}
		if len(lines) == 0 {
			return escape(t.MutesNone)
		}
		slices.Sort(lines)
		return escape(t.MutesHeader + "\n" + strings.Join(lines, "\n"))
	case "/stats":
		return b.statsCmd(args, t)
	case "/top":
		return b.topCmd(args, t)
	case "/chart":
		return b.chartCmd(ctx, c, args, t)
	case "/status":
		return b.statusCmd(t)
	case "/cascade":
		return b.cascadeCmd(c, user, args, t, s)
	case "/cascades":
		return b.cascadesCmd(s, t)
	case "/cost":
		if b.o.Cost == nil {
			return escape(t.NoCost)
		}
		return "<pre>" + escape(clip(b.o.Cost.CostReport(s.Lang), 3500)) + "</pre>"
	case "/lang":
		if len(args) != 1 {
			return escape(fmt.Sprintf(t.LangUsage, strings.Join(langCodes(), "|")))
		}
		code := strings.ToLower(args[0])
		if _, ok := languages[code]; !ok {
			return escape(fmt.Sprintf(t.LangUsage, strings.Join(langCodes(), "|")))
		}
		if !b.change(c, user, "lang "+code, func(s *settings) { s.Lang = code }) {
			return fail
		}
		return escape(lang(code).LangSet)
	}
	return escape(t.UnknownCmd)
}

func sidesName(sides uint8) string {
	switch sides {
	case 1 << event.Long:
		return "long"
	case 1 << event.Short:
		return "short"
	}
	return "long, short"
}

func (b *Bot) venuesCmd(c *chat, user int64, args []string, t *texts, s *settings) string {
	usage := escape(fmt.Sprintf(t.VenuesUsage, strings.Join(event.VenueNames(), " ")))
	if len(args) == 0 {
		if len(s.Venues) == 0 {
			return escape(t.VenuesAll)
		}
		return escape(fmt.Sprintf(t.VenuesShow, strings.Join(s.Venues, ", ")))
	}
	if len(args) == 1 && strings.EqualFold(args[0], "all") {
		if !b.change(c, user, "venues all", func(s *settings) { s.Venues = nil }) {
			return escape(t.Failed)
		}
		return escape(t.VenuesAll)
	}
	var vs []string
	for _, a := range args {
		for _, n := range strings.Split(strings.ToLower(a), ",") {
			if n == "" {
				continue
			}
			v, ok := event.ParseVenue(n)
			if !ok {
				return usage
			}
			if !slices.Contains(vs, v.String()) {
				vs = append(vs, v.String())
			}
		}
	}
	if len(vs) == 0 {
		return usage
	}
	slices.Sort(vs)
	if !b.change(c, user, "venues "+strings.Join(vs, ","), func(s *settings) { s.Venues = vs }) {
		return escape(t.Failed)
	}
	return escape(fmt.Sprintf(t.VenuesShow, strings.Join(vs, ", ")))
}

// handleCallback answers an inline button press. Only the mute button
// exists; its data is "mute:<SYMBOL>:1h".
func (b *Bot) handleCallback(ctx context.Context, q *telego.CallbackQuery) {
	answer := func(text string) {
		actx, cancel := context.WithTimeout(ctx, b.o.RequestTimeout)
		defer cancel()
		if err := b.api.AnswerCallbackQuery(actx, tu.CallbackQuery(q.ID).WithText(text)); err != nil {
			b.log.Warn("cannot answer callback", "err", scrub(err, b.o.Token))
		}
	}
	if q.Message == nil {
		answer(lang(b.o.Lang).CallbackBad)
		return
	}
	chatID := q.Message.GetChat().ID
	t := lang(b.o.Lang)
	if c := b.known(chatID); c != nil {
		t = lang(c.cfg.Load().Lang)
	}
	if !b.allow[q.From.ID] {
		// The answer shows only to the presser and costs no chat message.
		b.m.refusals.Inc()
		b.log.Debug("refused button press from a user not on the allow-list", "chat", chatID, "user", q.From.ID)
		answer(t.NotAllowed)
		return
	}
	parts := strings.Split(q.Data, ":")
	if len(parts) != 3 || parts[0] != "mute" {
		answer(t.CallbackBad)
		return
	}
	syms, ok := normSymbols(parts[1:2])
	d, ok2 := parseWindow(parts[2], maxMute)
	if !ok || !ok2 || len(syms) != 1 {
		answer(t.CallbackBad)
		return
	}
	c := b.getChat(chatID)
	until := time.Now().Add(d)
	if !b.change(c, q.From.ID, "mute "+syms[0]+" "+d.String()+" (button)", func(s *settings) { s.Mutes[syms[0]] = until.Unix() }) {
		answer(t.Failed)
		return
	}
	answer(fmt.Sprintf(t.CallbackMuted, syms[0]))
}

// reply sends an HTML text to chat from the budget's spare capacity (a
// command reply never costs an alert its slot), honouring one retry_after.
func (b *Bot) reply(ctx context.Context, chat int64, html string) {
	if len(html) > MaxText {
		html = escape(clip(stripTags(html), MaxText-100))
	}
	for attempt := 0; attempt < 2; attempt++ {
		if _, ok := b.lim.waitTake(ctx, chat, classSpare); !ok {
			return
		}
		p := tu.Message(tu.ID(chat), html).WithParseMode(telego.ModeHTML)
		p.LinkPreviewOptions = &telego.LinkPreviewOptions{IsDisabled: true}
		_, err := b.sendMessage(ctx, chat, p)
		if err == nil {
			b.m.replies.Inc()
			return
		}
		var backoff time.Duration
		if b.classify(ctx, b.getChatNoCreate(chat), err, &backoff) != actRetry {
			return
		}
	}
}

// getChatNoCreate returns the chat or a throwaway one for classify's
// bookkeeping (a 403 on a chat we never stored changes nothing).
func (b *Bot) getChatNoCreate(id int64) *chat {
	if c := b.known(id); c != nil {
		return c
	}
	c := &chat{id: id}
	c.cfg.Store(b.defaults().prepare())
	return c
}

func stripTags(s string) string {
	var sb strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			sb.WriteRune(r)
		}
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(sb.String())
}

// pct returns the p-th percentile of sorted ds.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	if i < 0 {
		i = 0
	}
	return ds[i]
}
