package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/mymmrac/telego"
	telegoapi "github.com/mymmrac/telego/telegoapi"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/latency"
	"github.com/liqbox/liqbox/logthrottle"
	"github.com/liqbox/liqbox/metricdoc"
)

// KV buckets the bot uses (and bucketSent, recover.go).
var (
	bucketChats = []byte("telegram_chats")
	bucketState = []byte("telegram_state")
	keyOffset   = []byte("update_offset")
)

// Bot delivers alerts to Telegram chats and answers commands.
type Bot struct {
	o     Options
	api   *telego.Bot
	log   *slog.Logger
	allow map[int64]bool
	lim   *limiter
	m     botMetrics
	lat   latencyLog

	// active is the immutable list of chats Offer delivers to; it is
	// replaced (never modified) under mu whenever a chat subscribes or
	// unsubscribes.
	active atomic.Pointer[[]*chat]
	// lastOffered is the sequence number of the newest event Offer has
	// handed to every chat that wanted it.
	lastOffered atomic.Uint64

	// persistLog spaces the lines about failed asynchronous writes: a
	// failing disk must not flood the log.
	persistLog logthrottle.Throttle
	// skipped logs the records of the log read back at start that were
	// skipped because they cannot be read (records.go).
	skipped *skippedRecords

	// username is the bot's own, from getMe; nil until known.
	username atomic.Pointer[string]
	// refusals carries chats owed a refusal to the refusal goroutine.
	refusals chan int64

	mu            sync.Mutex // guards chats, refused, refusalTokens, refusalAt, runCtx, running
	chats         map[int64]*chat
	refused       map[int64]time.Time // chat id → last refusal
	refusalTokens float64             // the refusals' total budget at refusalAt
	refusalAt     time.Time
	runCtx        context.Context
	running       bool
	wg            sync.WaitGroup
}

type botMetrics struct {
	offered, enqueued, folded, backlog    *metrics.Counter
	sent, edits, digests, replies         *metrics.Counter
	retryAfter, retries, failed, gone     *metrics.Counter
	annDropped, annEdits, annReplies      *metrics.Counter
	annTooOld, annCombined, annInCombined *metrics.Counter
	redelivered, refusals, refusalsSent   *metrics.Counter
	refusalsQuiet, foreignCmds            *metrics.Counter
	handoff, request, endToEnd            *latency.Histogram // the stages (Stages)
	limitWait                             *metrics.PrometheusHistogram
	apiErrs                               map[string]*metrics.Counter
	badRecords                            map[string]*metrics.Counter // by record kind (records.go)
	cascSent, cascEdits, cascDropped      *metrics.Counter
	cascResumed                           *metrics.Counter
	cascHandoff                           *latency.Histogram
}

// apiErrCodes are the label values of liqbox_telegram_api_errors_total:
// the Bot API codes that change what the bot does, the rest folded so the
// label set stays fixed.
var apiErrCodes = []string{"400", "403", "429", "5xx", "other", "network"}

func newBotMetrics(s *metrics.Set) botMetrics {
	metricdoc.Describe(s, `liqbox_telegram_sent_total`, "Messages sent, by kind.")
	metricdoc.Describe(s, `liqbox_telegram_edits_total`, "Messages edited, by kind.")
	metricdoc.Describe(s, `liqbox_telegram_dropped_total`, "Alerts or analyses dropped, by reason.")
	metricdoc.Describe(s, `liqbox_telegram_errors_total`, "Failed sends by what the bot did about them.")
	return botMetrics{
		offered:     metricdoc.Counter(s, `liqbox_telegram_offered_total`, "Events offered to the Telegram sink."),
		enqueued:    metricdoc.Counter(s, `liqbox_telegram_enqueued_total`, "Alerts queued for a chat (one per accepting chat)."),
		folded:      metricdoc.Counter(s, `liqbox_telegram_overflow_folded_total`, "Alerts that found their chat's queue full and were counted straight into the cascade digest."),
		backlog:     metricdoc.Counter(s, `liqbox_telegram_skipped_total{reason="backlog"}`, "Alerts not sent, by reason."),
		sent:        s.NewCounter(`liqbox_telegram_sent_total{kind="alert"}`),
		digests:     s.NewCounter(`liqbox_telegram_sent_total{kind="digest"}`),
		replies:     s.NewCounter(`liqbox_telegram_sent_total{kind="reply"}`),
		edits:       s.NewCounter(`liqbox_telegram_edits_total{kind="digest"}`),
		annEdits:    s.NewCounter(`liqbox_telegram_edits_total{kind="analysis"}`),
		annReplies:  s.NewCounter(`liqbox_telegram_sent_total{kind="analysis_reply"}`),
		annDropped:  s.NewCounter(`liqbox_telegram_dropped_total{reason="analysis_queue_full"}`),
		annTooOld:   s.NewCounter(`liqbox_telegram_dropped_total{reason="analysis_too_old"}`),
		annCombined: s.NewCounter(`liqbox_telegram_sent_total{kind="analyses"}`),
		// Analyses shown in a combined reply, beside edits_total{kind="analysis"}
		// and sent_total{kind="analysis_reply"} (one analysis each).
		annInCombined: metricdoc.Counter(s, `liqbox_telegram_analyses_combined_total`, "Analyses shown in a reply that carries several (sent_total{kind=\"analyses\"} counts those replies)."),
		retryAfter:    s.NewCounter(`liqbox_telegram_errors_total{kind="retry_after"}`),
		retries:       s.NewCounter(`liqbox_telegram_errors_total{kind="retryable"}`),
		failed:        s.NewCounter(`liqbox_telegram_errors_total{kind="rejected"}`),
		gone:          metricdoc.Counter(s, `liqbox_telegram_unsubscribed_total{reason="forbidden"}`, "Chats unsubscribed by the bot, by reason."),
		redelivered:   metricdoc.Counter(s, `liqbox_telegram_redelivered_total`, "Alerts read back from the log after a restart (not acknowledged by their chat) and sent again, marked as redelivered."),
		refusals:      metricdoc.Counter(s, `liqbox_telegram_refusals_total`, "Commands refused to users outside the allow-list."),
		refusalsSent:  s.NewCounter(`liqbox_telegram_sent_total{kind="refusal"}`),
		refusalsQuiet: metricdoc.Counter(s, `liqbox_telegram_refusals_unanswered_total`, "Refused commands that got no refusal message (the chat had one within 10 min, or the refusals' budget was spent)."),
		foreignCmds:   metricdoc.Counter(s, `liqbox_telegram_ignored_commands_total{reason="other_bot"}`, "Commands ignored because their @suffix names another bot (or this bot's username is not known yet)."),
		handoff:       latency.New(s, `liqbox_stage_receive_to_telegram_seconds`, "Local receive to the alert being handed to the Telegram client (includes waiting for a rate-limit slot)."),
		request:       latency.New(s, `liqbox_stage_telegram_request_seconds`, "Bot API request to Telegram's answer (sendMessage and editMessageText)."),
		endToEnd:      latency.New(s, `liqbox_stage_end_to_end_seconds`, "Exchange event time to Telegram's answer for the alert."),
		limitWait:     metricdoc.Histogram(s, `liqbox_telegram_alert_limit_wait_seconds`, "Time an alert waited for Telegram's limits (the chat's budget, the group and global windows, retry_after) before its request.", latency.Buckets),
		apiErrs:       apiErrCounters(s),
		badRecords:    badRecordCounters(s),
		cascSent:      s.NewCounter(`liqbox_telegram_sent_total{kind="cascade"}`),
		cascEdits:     s.NewCounter(`liqbox_telegram_edits_total{kind="cascade"}`),
		cascDropped:   s.NewCounter(`liqbox_telegram_dropped_total{reason="cascade_too_many"}`),
		cascResumed:   metricdoc.Counter(s, `liqbox_telegram_cascades_resumed_total`, "Cascades still open after a restart that continued in the message their chat already had."),
		cascHandoff:   latency.New(s, `liqbox_stage_receive_to_cascade_alert_seconds`, "Receive of the liquidation that crossed a cascade rule to its cascade alert handed to the Telegram client (a limit wait included)."),
	}
}

func apiErrCounters(s *metrics.Set) map[string]*metrics.Counter {
	return labelledCounters(s, `liqbox_telegram_api_errors_total`, "Failed Bot API requests by error code (5xx folded, network = no answer).", "code", apiErrCodes)
}

// labelledCounters declares family on s with help, one counter per value
// of label, keyed by the value: a fixed label set.
func labelledCounters(s *metrics.Set, family, help, label string, values []string) map[string]*metrics.Counter {
	metricdoc.Describe(s, family, help)
	m := make(map[string]*metrics.Counter, len(values))
	for _, v := range values {
		m[v] = s.NewCounter(family + `{` + label + `="` + v + `"}`)
	}
	return m
}

// Stages are the bot's stage histograms (receive → telegram, the Bot API
// request, end to end), for the status page's percentiles.
func (b *Bot) Stages() []*latency.Histogram {
	return []*latency.Histogram{b.m.handoff, b.m.request, b.m.endToEnd}
}

// countAPIError counts one failed Bot API request by its error code.
func (m *botMetrics) countAPIError(err error) {
	code := "network"
	var apiErr *telegoapi.Error
	if errors.As(err, &apiErr) {
		switch c := apiErr.ErrorCode; {
		case c == 400 || c == 403 || c == 429:
			code = strconv.Itoa(c)
		case c >= 500:
			code = "5xx"
		default:
			code = "other"
		}
	}
	m.apiErrs[code].Inc()
}

// registerQueueMetrics exports the chats' backlogs in aggregate (chat ids
// are personal data: they appear as labels only when the operator opts in
// with Options.MetricsChatLabels).
func (b *Bot) registerQueueMetrics(s *metrics.Set) {
	metricdoc.Gauge(s, `liqbox_telegram_queue_depth`, "Alerts waiting for delivery, all chats together.", func() float64 {
		sum, _, _ := b.queueDepths()
		return float64(sum)
	})
	metricdoc.Gauge(s, `liqbox_telegram_queue_depth_max`, "Alerts waiting for delivery in the most backed-up chat.", func() float64 {
		_, deepest, _ := b.queueDepths()
		return float64(deepest)
	})
	metricdoc.Gauge(s, `liqbox_telegram_active_chats`, "Chats subscribed to alerts.", func() float64 {
		_, _, n := b.queueDepths()
		return float64(n)
	})
	// One per chat, as chats register (registerChatGaugeLocked).
	metricdoc.Describe(s, `liqbox_telegram_chat_queue_depth`, "Alerts waiting for delivery per chat (only with telegram.metrics_chat_labels).")
}

// queueDepths sums the waiting alerts of every active chat and finds the
// deepest one.
func (b *Bot) queueDepths() (sum, deepest, chats int) {
	list := b.active.Load()
	if list == nil {
		return 0, 0, 0
	}
	for _, c := range *list {
		d := c.depth()
		sum += d
		if d > deepest {
			deepest = d
		}
	}
	return sum, deepest, len(*list)
}

// registerChatGaugeLocked exports one chat's backlog labelled by its id,
// only when the operator opted in. b.mu must be held.
func (b *Bot) registerChatGaugeLocked(id int64) {
	if !b.o.MetricsChatLabels {
		return
	}
	b.o.Metrics.GetOrCreateGauge(`liqbox_telegram_chat_queue_depth{chat="`+strconv.FormatInt(id, 10)+`"}`, func() float64 {
		b.mu.Lock()
		c := b.chats[id]
		b.mu.Unlock()
		if c == nil {
			return 0
		}
		return float64(c.depth())
	})
}

// New builds a Bot: it loads persisted chat settings from KV but makes no
// request (telegram-test-api and similar servers reject a parameterless
// getMe, and a box must start even when Telegram is unreachable).
func New(o Options) (*Bot, error) {
	o.fill()
	if o.Token == "" {
		return nil, ErrNoToken
	}
	if o.KV == nil {
		return nil, ErrNoKV
	}
	if err := o.Limits.check(); err != nil {
		return nil, err
	}
	if _, ok := languages[o.Lang]; !ok {
		return nil, fmt.Errorf("cannot use language %q: known are %s", o.Lang, strings.Join(langCodes(), ", "))
	}
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	api, err := telego.NewBot(o.Token,
		telego.WithHTTPClient(hc),
		telego.WithAPIServer(strings.TrimRight(o.APIURL, "/")),
		telego.WithDiscardLogger())
	if err != nil {
		return nil, fmt.Errorf("cannot create telegram client: %w", scrub(err, o.Token))
	}
	b := &Bot{
		o:       o,
		api:     api,
		log:     o.Logger.With("component", "telegram"),
		allow:   make(map[int64]bool, len(o.AllowUsers)),
		lim:     newLimiter(o.Limits),
		m:       newBotMetrics(o.Metrics),
		chats:   map[int64]*chat{},
		refused: map[int64]time.Time{},

		refusals:      make(chan int64, refusalQueue),
		refusalTokens: refusalBurst,
		refusalAt:     time.Now(),
	}
	b.lat.init(4096)
	b.persistLog.Every = time.Minute
	b.skipped = newSkippedRecords(b.log)
	b.registerQueueMetrics(o.Metrics)
	for _, u := range o.AllowUsers {
		b.allow[u] = true
	}
	if o.Shadow {
		// One synthetic chat stands for the shadow target; its settings
		// are the defaults, so the shadow sees what a fresh chat would.
		c := b.newChat(o.ShadowChat)
		s := b.defaults()
		s.Subscribed = true
		c.cfg.Store(s.prepare())
		b.chats[o.ShadowChat] = c
	} else {
		if err := b.loadChats(); err != nil {
			return nil, err
		}
		if err := b.loadCascades(); err != nil {
			b.log.Warn("cannot read the cascade messages of the last run back; they get no closing line", "err", err)
		}
	}
	b.publishLocked()
	for _, c := range b.chats {
		b.publishRules(c)
	}
	return b, nil
}

func (b *Bot) defaults() *settings {
	return &settings{MinUSD: b.o.MinUSD, Lang: b.o.Lang, Mutes: map[string]int64{}}
}

// loadChats reads the chats' settings back from the log. A chat whose
// record cannot be read is skipped (logged and counted): one bad record
// must not keep the box from starting and serving the other chats. A chat
// of telegram.chats skipped so gets the defaults below, as a new one.
func (b *Bot) loadChats() error {
	err := forEachSettings(b.o.KV, b.defaults, func(id int64, s *settings) {
		s.pruneMutes(time.Now())
		c := b.newChat(id)
		c.cfg.Store(s.prepare())
		b.chats[id] = c
	}, func(k []byte, err error) { b.badRecord(recChat, k, err) })
	b.skipped.summary(recChat)
	if err != nil {
		return fmt.Errorf("cannot load telegram chat settings: %w", err)
	}
	for _, id := range b.o.Chats {
		if _, ok := b.chats[id]; ok {
			continue // the chat's own choice (/stop included) wins
		}
		c := b.newChat(id)
		s := b.defaults()
		s.Subscribed = true
		c.cfg.Store(s.prepare())
		b.chats[id] = c
	}
	return nil
}

// publishLocked rebuilds the active list. b.mu must be held (or b not yet
// shared).
func (b *Bot) publishLocked() {
	list := make([]*chat, 0, len(b.chats))
	for _, c := range b.chats {
		if c.cfg.Load().Subscribed {
			list = append(list, c)
		}
	}
	b.active.Store(&list)
}

// Run polls for updates and runs the chats' schedulers until ctx ends.
// Before a chat subscribed at start sends anything, its scheduler reads
// back from Options.Log what the previous run left undelivered (see
// recover.go). Run returns nil on a clean stop.
func (b *Bot) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return errors.New("telegram: bot already running")
	}
	b.running = true
	b.runCtx = ctx
	for _, c := range b.chats {
		b.startChatLocked(c, true)
	}
	b.mu.Unlock()
	if !b.o.Shadow {
		b.wg.Add(3)
		go func() {
			defer b.wg.Done()
			b.poll(ctx)
		}()
		go func() {
			defer b.wg.Done()
			b.learnUsername(ctx)
		}()
		go func() {
			defer b.wg.Done()
			b.refuse(ctx)
		}()
	}
	<-ctx.Done()
	b.wg.Wait()
	b.mu.Lock()
	b.running = false
	b.mu.Unlock()
	return nil
}

// startChatLocked starts c's scheduler once; recover says whether it reads
// back the previous run's undelivered alerts first (only chats subscribed
// when Run starts: one that subscribes later was not owed anything).
// b.mu must be held.
func (b *Bot) startChatLocked(c *chat, recover bool) {
	if c.started || !b.running || b.runCtx.Err() != nil || !c.cfg.Load().Subscribed {
		return
	}
	c.started = true
	b.registerChatGaugeLocked(c.id)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.runChat(b.runCtx, c, recover)
	}()
}

// Offer hands one deduplicated event to every chat whose filters accept
// it. It never blocks and never allocates: a chat whose queue is full
// folds the alert into its cascade digest.
func (b *Bot) Offer(ev *event.Event) {
	b.m.offered.Inc()
	if ev.Flags&event.FlagBacklog != 0 {
		b.m.backlog.Inc()
		b.lastOffered.Store(ev.Seq)
		return
	}
	if list := b.active.Load(); list != nil {
		now := time.Now().UnixNano()
		var a lazyAsset
		for _, c := range *list {
			if !c.cfg.Load().accepts(ev, now, &a) {
				continue
			}
			if c.push(ev) {
				b.m.enqueued.Inc()
			} else {
				b.m.folded.Inc()
			}
		}
	}
	// Published after every chat that wants ev has it queued: see
	// chatRun.ackIdle.
	b.lastOffered.Store(ev.Seq)
}

// Annotate queues an analysis for every chat that received its alert,
// which then edits the alert or replies to it (see analysis.go). It never
// blocks; a full queue drops the annotation.
func (b *Bot) Annotate(a event.Analysis) {
	list := b.active.Load()
	if list == nil {
		return
	}
	for _, c := range *list {
		if !c.pushAnalysis(a) {
			b.m.annDropped.Inc()
		}
	}
}

// chat is one chat's state shared between Offer (producer) and its two
// goroutines (consumers).
type chat struct {
	id  int64
	cfg atomic.Pointer[settings]

	mu   sync.Mutex // guards q, head, n, held, ann, over
	q    []event.Event
	head int
	n    int
	// held is how many events the alert goroutine has taken off q but not
	// yet delivered in any form.
	held int
	ann  []event.Analysis
	// over folds alerts that arrive while q is full, so a cascade faster
	// than the scheduler drains loses none of them from its digest.
	over    digest
	wake    chan struct{} // capacity 1: an alert is waiting
	annWake chan struct{} // capacity 1: an analysis is waiting, or an alert was sent

	aw   awaiting
	casc cascadeBox

	started bool // guarded by Bot.mu
}

// depth is the chat's backlog: queued plus held by its alert goroutine.
func (c *chat) depth() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n + c.held
}

// queued reports whether alerts wait in the queue or its overflow.
func (c *chat) queued() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n > 0 || c.over.count > 0
}

const annQueue = 256

func (b *Bot) newChat(id int64) *chat {
	c := &chat{
		id:      id,
		q:       make([]event.Event, b.o.QueueSize),
		ann:     make([]event.Analysis, 0, annQueue),
		wake:    make(chan struct{}, 1),
		annWake: make(chan struct{}, 1),
	}
	c.aw.init(id)
	c.casc.init()
	return c
}

// push queues ev for the chat's scheduler. When the queue is full the
// alert is folded into the overflow digest instead, and push reports false:
// the alert is not sent on its own but counted in the cascade digest.
func (c *chat) push(ev *event.Event) bool {
	c.mu.Lock()
	if c.n == len(c.q) {
		c.over.fold(ev)
		c.mu.Unlock()
		c.signal()
		return false
	}
	c.q[(c.head+c.n)%len(c.q)] = *ev
	c.n++
	c.mu.Unlock()
	c.signal()
	return true
}

func (c *chat) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *chat) signalAnn() {
	select {
	case c.annWake <- struct{}{}:
	default:
	}
}

func (c *chat) pushAnalysis(a event.Analysis) bool {
	c.mu.Lock()
	if len(c.ann) >= annQueue {
		c.mu.Unlock()
		return false
	}
	c.ann = append(c.ann, a)
	c.mu.Unlock()
	c.signalAnn()
	return true
}

// takeAnalyses returns the queued analyses and empties the queue.
func (c *chat) takeAnalyses() []event.Analysis {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ann) == 0 {
		return nil
	}
	out := append([]event.Analysis(nil), c.ann...)
	clear(c.ann)
	c.ann = c.ann[:0]
	return out
}

// drain moves up to room waiting events into dst; they count as held.
func (c *chat) drain(dst []event.Event, room int) []event.Event {
	c.mu.Lock()
	for room > 0 && c.n > 0 {
		dst = append(dst, c.q[c.head])
		c.head = (c.head + 1) % len(c.q)
		c.n--
		c.held++
		room--
	}
	c.mu.Unlock()
	return dst
}

// hold counts n events the alert goroutine holds from elsewhere (the log).
func (c *chat) hold(n int) {
	c.mu.Lock()
	c.held += n
	c.mu.Unlock()
}

// release counts n held events as delivered (or given up).
func (c *chat) release(n int) {
	c.mu.Lock()
	c.held -= n
	c.mu.Unlock()
}

// takeOverflow moves the overflow digest into dst.
func (c *chat) takeOverflow(dst *digest) {
	c.mu.Lock()
	if c.over.count > 0 {
		dst.merge(&c.over)
		c.over = digest{}
	}
	c.mu.Unlock()
}

// getChat returns the chat for id, creating (and starting) it with the
// default settings when new.
func (b *Bot) getChat(id int64) *chat {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.chats[id]
	if !ok {
		c = b.newChat(id)
		c.cfg.Store(b.defaults().prepare())
		b.chats[id] = c
	}
	return c
}

// update applies change to a copy of the chat's settings, persists and
// publishes it, and hands its cascade rules to the engine.
func (b *Bot) update(c *chat, change func(s *settings)) error {
	if err := b.updateSettings(c, change); err != nil {
		return err
	}
	b.publishRules(c) // outside b.mu: the engine may be calling the bot
	return nil
}

func (b *Bot) updateSettings(c *chat, change func(s *settings)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := c.cfg.Load().clone()
	change(s)
	s.pruneMutes(time.Now())
	v, err := s.marshal()
	if err != nil {
		return fmt.Errorf("cannot encode settings of chat %d: %w", c.id, err)
	}
	if err := b.o.KV.Put(bucketChats, []byte(strconv.FormatInt(c.id, 10)), v); err != nil {
		return fmt.Errorf("cannot save settings of chat %d: %w", c.id, err)
	}
	c.cfg.Store(s.prepare())
	b.startChatLocked(c, false)
	b.publishLocked()
	return nil
}

// logPersistError logs a write the store could not queue, at most once a
// minute; recovery after a crash then misses what it would have held.
func (b *Bot) logPersistError(err error) {
	if _, ok := b.persistLog.Allow(time.Now()); !ok {
		return
	}
	b.log.Warn("cannot queue the bot's state for the log: a crash now would lose it", "err", err)
}

// scrubbed is an error whose text has the bot token removed (telego's
// errors may quote the request URL, which carries it). It unwraps only to
// what callers branch on and that never holds the URL: the API's
// *telegoapi.Error or a context error.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

func scrub(err error, token string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "<token>")
	}
	var inner error
	var apiErr *telegoapi.Error
	switch {
	case errors.As(err, &apiErr):
		inner = apiErr
	case errors.Is(err, context.Canceled):
		inner = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		inner = context.DeadlineExceeded
	}
	return &scrubbed{msg: msg, err: inner}
}
