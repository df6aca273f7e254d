package history

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/retry"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram"
)

// ErrNeedsConfig starts the error of a replay to Telegram that the
// configuration or the environment does not allow (no token, no chat):
// the caller's usage, not a failure.
var ErrNeedsConfig = errors.New("--telegram needs")

// Replay runs emit over the events q selects in st, at speed times the
// pace they arrived (0: as fast as possible), until the log or ctx ends
// (a cancelled replay is not an error). With progress set it draws a bar
// there.
func Replay(ctx context.Context, st *store.Store, q *Query, speed float64, emit func(*event.Event) error, progress io.Writer) error {
	pr := &Progress{w: progress, from: q.FromT.UnixNano(), to: q.ToT.UnixNano()}
	var base int64
	var wallStart time.Time
	err := q.Scan(st, func(ev *event.Event) error {
		if speed > 0 {
			if wallStart.IsZero() {
				base, wallStart = ev.RecvNs, time.Now()
			}
			due := wallStart.Add(time.Duration(float64(ev.RecvNs-base) / speed))
			if d := time.Until(due); d > 0 {
				if !retry.Sleep(ctx, d) {
					return ctx.Err()
				}
			}
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		pr.update(ev)
		return emit(ev)
	})
	pr.done()
	return err
}

// ParseSpeed reads 1x, 10x, 0.5x or max (0: no pacing).
func ParseSpeed(s string) (float64, error) {
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
	if err != nil || v <= 0 || v > 1e6 {
		return 0, fmt.Errorf("--speed %q: want 1x, 10x or max", s)
	}
	return v, nil
}

// Progress draws a bar on a TTY, at most ten times a second.
type Progress struct {
	w        io.Writer
	from, to int64
	last     time.Time
	n        int
}

func (p *Progress) update(ev *event.Event) {
	p.n++
	if p.w == nil || time.Since(p.last) < 100*time.Millisecond || p.to <= p.from {
		return
	}
	p.last = time.Now()
	frac := float64(ev.RecvNs-p.from) / float64(p.to-p.from)
	frac = min(max(frac, 0), 1)
	const width = 30
	done := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %s  %d events", strings.Repeat("#", done), strings.Repeat("-", width-done),
		frac*100, time.Unix(0, ev.RecvNs).UTC().Format("2006-01-02 15:04:05"), p.n)
}

func (p *Progress) done() {
	if p.w != nil && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// TelegramReplay sends replayed alerts through the real bot, with its
// formatting, limits and digests, and the cascade alerts of rules (nil:
// ReplayRules' choice) through the rule engine, kept current by edits as
// live. It runs the bot in shadow mode to one chat: a second poller on the
// token would steal the live bot's commands (and Telegram refuses two
// getUpdates at once). Chat settings are read from the log; the bot's own
// writes (outbox, offsets) stay in memory so the live bot's state is
// untouched. emit takes every event of the window (q.Everything): the
// rules add them all up, the bot is offered those q selects.
func TelegramReplay(ctx context.Context, q *Query, rules []cascade.Rule, logw io.Writer) (emit func(*event.Event) error, finish func() error, err error) {
	cfg, err := service.LoadConfig(q.Config)
	if err != nil {
		return nil, nil, err
	}
	token, err := service.ReadBotToken(cfg)
	if err != nil {
		return nil, nil, err
	}
	if token == "" {
		return nil, nil, fmt.Errorf("%w %s", ErrNeedsConfig, service.BotTokenEnv)
	}
	chat := cfg.Telegram.ShadowChat
	if chat == 0 && len(cfg.Telegram.Chats) > 0 {
		chat = cfg.Telegram.Chats[0]
	}
	if chat == 0 {
		return nil, nil, fmt.Errorf("%w telegram.shadow_chat or telegram.chats in the config", ErrNeedsConfig)
	}
	path, err := LogPath(q.DB, q.Config)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	set := metrics.NewSet()
	min := cfg.Telegram.MinUSD
	if q.MinUSDV > 0 {
		min = q.MinUSDV
	}
	if rules, err = ReplayRules(rules, st, cfg.Telegram.Cascades); err != nil {
		st.Close()
		return nil, nil, err
	}
	sink := &botSink{}
	cascades := NewCascades(nil, sink)
	bot, err := telegram.New(telegram.Options{
		Token:       token,
		APIURL:      cfg.Telegram.APIURL,
		MinUSD:      min,
		Lang:        cfg.Telegram.Lang,
		Shadow:      true,
		ShadowChat:  chat,
		Limits:      cfg.Telegram.Limits,
		CascadeIdle: 2 * time.Second,
		// The shadow chat has the rules: they are its defaults.
		Cascades:     cascades.Engine(),
		CascadeRules: rules,
		KV:           &overlayKV{base: st, mem: map[string][]byte{}},
		Acker:        noAck{},
		History:      st,
		Metrics:      set,
		Logger:       service.NewLogger(logw, cfg).With("component", "telegram"),
	})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	sink.SetBot(bot)
	// The bot handed the shadow chat's rules to the engine: now its
	// windows can be read from before --from.
	if err := cascades.Seed(st, q.FromT); err != nil {
		st.Close()
		return nil, nil, err
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- bot.Run(bctx) }()
	sent := []*metrics.Counter{
		set.GetOrCreateCounter(`liqbox_telegram_sent_total{kind="alert"}`),
		set.GetOrCreateCounter(`liqbox_telegram_sent_total{kind="digest"}`),
		set.GetOrCreateCounter(`liqbox_telegram_edits_total{kind="digest"}`),
		set.GetOrCreateCounter(`liqbox_telegram_errors_total{kind="rejected"}`),
		set.GetOrCreateCounter(`liqbox_telegram_sent_total{kind="cascade"}`),
		set.GetOrCreateCounter(`liqbox_telegram_edits_total{kind="cascade"}`),
	}
	enqueued := set.GetOrCreateCounter(`liqbox_telegram_enqueued_total`)
	emit = func(ev *event.Event) error {
		cascades.Event(ev)
		if !q.Match(ev) {
			return nil
		}
		ev.Flags |= event.FlagReplay
		bot.Offer(ev)
		// The stored analysis edits the replayed alert as it did live.
		if a, ok, err := enrich.LoadAnalysis(st, ev.Seq); err == nil && ok {
			bot.Annotate(a)
		}
		return nil
	}
	finish = func() error {
		defer st.Close()
		defer func() { cancel(); <-done }()
		cascades.Finish(q.ToT)
		if enqueued.Get() == 0 && sink.opened.Load() == 0 {
			return nil
		}
		// The bot says nothing when its queues are empty; wait until it has
		// been quiet longer than a digest stays open, or Ctrl-C.
		fmt.Fprintf(logw, "waiting for %d queued alerts to reach Telegram (Ctrl-C to stop)…\n", enqueued.Get())
		var last uint64
		quietSince := time.Now()
		for ctx.Err() == nil {
			var n uint64
			for _, c := range sent {
				n += c.Get()
			}
			if n != last {
				last, quietSince = n, time.Now()
			}
			if n > 0 && time.Since(quietSince) > 5*time.Second {
				return nil
			}
			retry.Sleep(ctx, 200*time.Millisecond)
		}
		return nil
	}
	return emit, finish, nil
}

// botSink hands the rule engine's cascades to the replay's bot and counts
// them, so finish knows it has something to wait for.
type botSink struct {
	telegram.LateSink
	opened atomic.Int64
}

func (s *botSink) Opened(x *cascade.Snapshot) {
	s.opened.Add(1)
	s.LateSink.Opened(x)
}

// overlayKV reads the log's KV buckets and keeps writes in memory.
type overlayKV struct {
	base *store.Store
	mu   sync.Mutex // guards mem
	mem  map[string][]byte
}

func kvKey(bucket, key []byte) string { return string(bucket) + "\x00" + string(key) }

func (o *overlayKV) Get(bucket, key []byte) ([]byte, error) {
	o.mu.Lock()
	v, ok := o.mem[kvKey(bucket, key)]
	o.mu.Unlock()
	if ok {
		return v, nil
	}
	return o.base.Get(bucket, key)
}

func (o *overlayKV) Put(bucket, key, value []byte) error {
	o.mu.Lock()
	o.mem[kvKey(bucket, key)] = append([]byte{}, value...)
	o.mu.Unlock()
	return nil
}

func (o *overlayKV) Delete(bucket, key []byte) error {
	o.mu.Lock()
	o.mem[kvKey(bucket, key)] = nil
	o.mu.Unlock()
	return nil
}

func (o *overlayKV) ForEach(bucket []byte, fn func(k, v []byte) error) error {
	return o.base.ForEach(bucket, fn)
}

// noAck keeps a replay from moving the live checkpoints.
type noAck struct{}

func (noAck) Ack(string, uint64) {}
