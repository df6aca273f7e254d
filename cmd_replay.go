package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram"
)

// logQuery is the selection shared by replay, stats, export and backtest:
// which log, which time window (by local receive time), which events.
type logQuery struct {
	db, config, from, to, venue, minUSD string
	symbols                             symbolList

	fromT, toT time.Time
	venueV     event.Venue
	syms       map[string]bool
	min        float64
}

// symbolList is a repeatable, comma-separated --symbol flag.
type symbolList []string

func (l *symbolList) String() string { return strings.Join(*l, ",") }

func (l *symbolList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, strings.ToUpper(p))
		}
	}
	return nil
}

func (q *logQuery) register(fs *flag.FlagSet, defFrom string) {
	fs.StringVar(&q.db, "db", "", "log file (default: store.path from the config)")
	fs.StringVar(&q.config, "config", "", "config file, for the default log path")
	fs.StringVar(&q.from, "from", defFrom, "start: RFC 3339, 2006-01-02, or relative to now (-2h, -7d)")
	fs.StringVar(&q.to, "to", "now", "end (exclusive), same forms as --from")
	fs.StringVar(&q.venue, "venue", "", "only this venue (binance-usdm, binance-coinm, bybit, okx, bitmex)")
	fs.Var(&q.symbols, "symbol", "only these symbols (repeat or comma-separate)")
	fs.StringVar(&q.minUSD, "min-usd", "", "only liquidations of at least this notional (250k, 1.5m)")
}

func (q *logQuery) parse(now time.Time) error {
	var err error
	if q.fromT, err = parseWhen(q.from, now); err != nil {
		return fmt.Errorf("%w: --from: %v", errUsage, err)
	}
	if q.toT, err = parseWhen(q.to, now); err != nil {
		return fmt.Errorf("%w: --to: %v", errUsage, err)
	}
	if !q.toT.IsZero() && q.toT.Before(q.fromT) {
		return fmt.Errorf("%w: --to %s is before --from %s", errUsage, q.to, q.from)
	}
	if q.venue != "" {
		v, ok := event.ParseVenue(q.venue)
		if !ok {
			return fmt.Errorf("%w: unknown venue %q", errUsage, q.venue)
		}
		q.venueV = v
	}
	if len(q.symbols) > 0 {
		q.syms = make(map[string]bool, len(q.symbols))
		for _, s := range q.symbols {
			q.syms[s] = true
		}
	}
	if q.minUSD != "" {
		v, ok := money.ParseUSD(q.minUSD)
		if !ok {
			return fmt.Errorf("%w: --min-usd %q is not an amount (250k, 1.5m)", errUsage, q.minUSD)
		}
		q.min = v
	}
	return nil
}

// match applies the venue, symbol and size filters.
func (q *logQuery) match(ev *event.Event) bool {
	if q.venueV != event.VenueUnknown && ev.Venue != q.venueV {
		return false
	}
	if q.syms != nil && !q.syms[string(ev.Symbol.Bytes())] {
		return false
	}
	if q.min > 0 && (!ev.NotionalKnown() || ev.Notional < q.min) {
		return false
	}
	return true
}

// parseAndOpen checks the flags, then opens the log read-only.
func (q *logQuery) parseAndOpen(now time.Time) (*store.Store, error) {
	if err := q.parse(now); err != nil {
		return nil, err
	}
	return q.open()
}

// open opens the log read-only; it works while `liqbox run` writes it.
func (q *logQuery) open() (*store.Store, error) {
	path, err := logPath(q.db, q.config)
	if err != nil {
		return nil, err
	}
	return store.Open(path, store.Options{ReadOnly: true})
}

// scan runs fn over the matching events in the window.
func (q *logQuery) scan(st *store.Store, fn func(*event.Event) error) error {
	return st.Scan(q.fromT, q.toT, func(ev *event.Event) error {
		if !q.match(ev) {
			return nil
		}
		return fn(ev)
	})
}

// logPath is --db, or the config's store path.
func logPath(db, config string) (string, error) {
	if db != "" {
		return db, nil
	}
	cfg, err := service.LoadConfig(config)
	if err != nil {
		return "", err
	}
	return cfg.StorePath(), nil
}

// parseWhen reads RFC 3339, a date, "now", or a duration relative to now
// ("-2h", "-7d", "-30m"). An empty string is the zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, nil
	case s == "now":
		return now, nil
	case s[0] == '-' || s[0] == '+':
		num := s[1:]
		mult := time.Duration(1)
		if strings.HasSuffix(num, "d") {
			num, mult = strings.TrimSuffix(num, "d")+"h", 24
		}
		d, err := time.ParseDuration(num)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a relative time such as -2h or -7d", s)
		}
		if s[0] == '-' {
			d = -d
		}
		return now.Add(d * mult), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 (2026-11-27T12:00:00Z), a date, or relative (-2h)", s)
}

// eventWriter writes events as a table (the live terminal alert line),
// JSON lines or CSV.
type eventWriter struct {
	format string
	w      *bufio.Writer
	csv    *csv.Writer
	buf    []byte
	row    []string
	color  bool
	// kv, when set, is the log the events come from: each event's stored
	// risk analysis (enrichment result) is written with it.
	kv enrich.KV
}

func newEventWriter(w io.Writer, format string, color bool) (*eventWriter, error) {
	ew := &eventWriter{format: format, w: bufio.NewWriter(w), color: color}
	switch format {
	case "table", "jsonl":
	case "csv":
		ew.csv = csv.NewWriter(ew.w)
		if err := ew.csv.Write(csvHeader); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: --format %q: want table, jsonl or csv", errUsage, format)
	}
	return ew, nil
}

var csvHeader = []string{"seq", "recv_time", "time", "venue", "market", "symbol", "side",
	"price", "qty", "notional_usd", "notional_basis", "conn", "flags",
	"risk", "analysis_source", "summary", "recommendation"}

// analysis returns the stored analysis of ev, if the writer reads a log and
// the log has one.
func (ew *eventWriter) analysis(ev *event.Event) (event.Analysis, bool) {
	if ew.kv == nil || ev.Seq == 0 {
		return event.Analysis{}, false
	}
	a, ok, err := enrich.LoadAnalysis(ew.kv, ev.Seq)
	return a, ok && err == nil
}

func (ew *eventWriter) write(ev *event.Event) error {
	switch ew.format {
	case "table":
		// The live alert line; "on-box" is then the time from receipt to
		// logging, 0, rather than the hours since.
		ew.buf = service.AppendTerminalLine(ew.buf[:0], ev, time.Unix(0, ev.RecvNs), ew.color)
		if a, ok := ew.analysis(ev); ok {
			ew.buf = service.AppendTerminalNote(ew.buf, &a, ew.color)
		}
		_, err := ew.w.Write(ew.buf)
		return err
	case "jsonl":
		ew.buf = appendEventJSON(ew.buf[:0], ev)
		if a, ok := ew.analysis(ev); ok {
			ew.buf = appendAnalysisJSON(ew.buf[:len(ew.buf)-1], &a)
			ew.buf = append(ew.buf, '}')
		}
		ew.buf = append(ew.buf, '\n')
		_, err := ew.w.Write(ew.buf)
		return err
	}
	notional := ""
	if ev.NotionalKnown() {
		notional = strconv.FormatFloat(ev.Notional, 'f', -1, 64)
	}
	ew.row = append(ew.row[:0],
		strconv.FormatUint(ev.Seq, 10),
		time.Unix(0, ev.RecvNs).UTC().Format(time.RFC3339Nano),
		time.UnixMilli(ev.TimeMs).UTC().Format(time.RFC3339Nano),
		ev.Venue.String(), ev.Market.String(), ev.Symbol.String(), ev.Side.String(),
		strconv.FormatFloat(ev.Price, 'f', -1, 64),
		strconv.FormatFloat(ev.Qty, 'f', -1, 64),
		notional, ev.Basis.String(), strconv.Itoa(int(ev.Conn)), flagNames(ev.Flags))
	if a, ok := ew.analysis(ev); ok {
		ew.row = append(ew.row, a.Risk.String(), a.Source, a.Summary, a.Recommendation)
	} else {
		ew.row = append(ew.row, "", "", "", "")
	}
	return ew.csv.Write(ew.row)
}

// appendAnalysisJSON appends `,"analysis":{…}` to an open JSON object.
func appendAnalysisJSON(dst []byte, a *event.Analysis) []byte {
	b, _ := json.Marshal(struct {
		Risk           string `json:"risk"`
		Source         string `json:"source"`
		Model          string `json:"model,omitempty"`
		Lang           string `json:"lang,omitempty"`
		Summary        string `json:"summary"`
		Recommendation string `json:"recommendation"`
	}{a.Risk.String(), a.Source, a.Model, a.Lang, a.Summary, a.Recommendation})
	dst = append(dst, `,"analysis":`...)
	return append(dst, b...)
}

func (ew *eventWriter) flush() error {
	if ew.csv != nil {
		ew.csv.Flush()
		if err := ew.csv.Error(); err != nil {
			return err
		}
	}
	return ew.w.Flush()
}

// appendEventJSON is `liqbox decode`'s JSON object plus what the log adds:
// seq, recv_ns, market, conn and flags.
func appendEventJSON(dst []byte, ev *event.Event) []byte {
	dst = ev.AppendJSON(dst)
	dst = dst[:len(dst)-1] // reopen the object
	dst = append(dst, `,"market":"`...)
	dst = append(dst, ev.Market.String()...)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, `,"recv_ns":`...)
	dst = strconv.AppendInt(dst, ev.RecvNs, 10)
	dst = append(dst, `,"conn":`...)
	dst = strconv.AppendUint(dst, uint64(ev.Conn), 10)
	dst = append(dst, `,"flags":"`...)
	dst = append(dst, flagNames(ev.Flags)...)
	return append(dst, `"}`...)
}

func flagNames(f event.Flags) string {
	var names []string
	if f&event.FlagBacklog != 0 {
		names = append(names, "backlog")
	}
	if f&event.FlagReplay != 0 {
		names = append(names, "replay")
	}
	return strings.Join(names, "|")
}

// parseSpeed reads 1x, 10x, 0.5x or max (0: no pacing).
func parseSpeed(s string) (float64, error) {
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
	if err != nil || v <= 0 || v > 1e6 {
		return 0, fmt.Errorf("%w: --speed %q: want 1x, 10x or max", errUsage, s)
	}
	return v, nil
}

// progress draws a bar on a TTY, at most ten times a second.
type progress struct {
	w        io.Writer
	from, to int64
	last     time.Time
	n        int
}

func (p *progress) update(ev *event.Event) {
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

func (p *progress) done() {
	if p.w != nil && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func cmdReplay(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var q logQuery
	q.register(fs, "-1h")
	speedS := fs.String("speed", "max", "pace: 1x (as it happened), 10x, or max")
	format := fs.String("format", "table", "output: table (the live alert line), jsonl or csv")
	toTG := fs.Bool("telegram", false, "send to the configured Telegram chats (needs TELEGRAM_BOT_TOKEN) instead of stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	speed, err := parseSpeed(*speedS)
	if err != nil {
		return err
	}
	if err := q.parse(time.Now()); err != nil {
		return err
	}
	var emit func(*event.Event) error
	var finish func() error
	var ew *eventWriter
	if *toTG {
		emit, finish, err = telegramReplay(ctx, a, &q)
		if err != nil {
			return err
		}
	} else {
		ew, err = newEventWriter(a.stdout, *format, *format == "table" && isTerminal(a.stdout))
		if err != nil {
			return err
		}
		emit, finish = ew.write, ew.flush
	}
	st, err := q.open()
	if err != nil {
		return err
	}
	defer st.Close()
	if ew != nil {
		ew.kv = st // stored analyses are replayed with their alerts
	}

	pr := &progress{from: q.fromT.UnixNano(), to: q.toT.UnixNano()}
	if isTerminal(a.stderr) {
		pr.w = a.stderr
	}
	var base int64
	var wallStart time.Time
	err = q.scan(st, func(ev *event.Event) error {
		if speed > 0 {
			if wallStart.IsZero() {
				base, wallStart = ev.RecvNs, time.Now()
			}
			due := wallStart.Add(time.Duration(float64(ev.RecvNs-base) / speed))
			if d := time.Until(due); d > 0 {
				if !sleepCtx(ctx, d) {
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
	if ferr := finish(); err == nil {
		err = ferr
	}
	if errors.Is(err, context.Canceled) {
		return nil // Ctrl-C ends a replay; not an error
	}
	if err != nil {
		return fmt.Errorf("cannot replay: %w", err)
	}
	return nil
}

// telegramReplay sends replayed alerts through the real bot, with its
// formatting, limits and digests. It runs the bot in shadow mode to one
// chat: a second poller on the token would steal the live bot's commands
// (and Telegram refuses two getUpdates at once). Chat settings are read
// from the log; the bot's own writes (outbox, offsets) stay in memory so
// the live bot's state is untouched.
func telegramReplay(ctx context.Context, a *app, q *logQuery) (emit func(*event.Event) error, finish func() error, err error) {
	cfg, err := service.LoadConfig(q.config)
	if err != nil {
		return nil, nil, err
	}
	token, err := service.ReadSecret("TELEGRAM_BOT_TOKEN", cfg.Telegram.TokenFile)
	if err != nil {
		return nil, nil, err
	}
	if token == "" {
		return nil, nil, fmt.Errorf("%w: --telegram needs TELEGRAM_BOT_TOKEN", errUsage)
	}
	chat := cfg.Telegram.ShadowChat
	if chat == 0 && len(cfg.Telegram.Chats) > 0 {
		chat = cfg.Telegram.Chats[0]
	}
	if chat == 0 {
		return nil, nil, fmt.Errorf("%w: --telegram needs telegram.shadow_chat or telegram.chats in the config", errUsage)
	}
	path, err := logPath(q.db, q.config)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return nil, nil, err
	}
	set := metrics.NewSet()
	min := cfg.Telegram.MinUSD
	if q.min > 0 {
		min = q.min
	}
	bot, err := telegram.New(telegram.Options{
		Token:       token,
		APIURL:      cfg.Telegram.APIURL,
		MinUSD:      min,
		Lang:        cfg.Telegram.Lang,
		Shadow:      true,
		ShadowChat:  chat,
		Limits:      cfg.Telegram.Limits,
		CascadeIdle: 2 * time.Second,
		KV:          &overlayKV{base: st, mem: map[string][]byte{}},
		Acker:       noAck{},
		History:     st,
		Metrics:     set,
		Logger:      service.NewLogger(a.stderr, cfg).With("component", "telegram"),
	})
	if err != nil {
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
	}
	enqueued := set.GetOrCreateCounter(`liqbox_telegram_enqueued_total`)
	emit = func(ev *event.Event) error {
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
		if enqueued.Get() == 0 {
			return nil
		}
		// The bot says nothing when its queues are empty; wait until it has
		// been quiet longer than a digest stays open, or Ctrl-C.
		fmt.Fprintf(a.stderr, "waiting for %d queued alerts to reach Telegram (Ctrl-C to stop)…\n", enqueued.Get())
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
			sleepCtx(ctx, 200*time.Millisecond)
		}
		return nil
	}
	return emit, finish, nil
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

// sleepCtx sleeps for d, or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
