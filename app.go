package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/pipeline"
	"github.com/liqbox/liqbox/ring"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram"
)

// app is what every subcommand gets: its name and standard streams.
type app struct {
	name   string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// flags returns a FlagSet for the subcommand that writes its help to stderr.
func (a *app) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("liqbox "+a.name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	return fs
}

// newLogger builds the process logger from the config.
func newLogger(w io.Writer, c *Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.General.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	if c.General.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// serviceOptions are what differ between `run`, `demo` and tests.
type serviceOptions struct {
	Config   *Config
	Logger   *slog.Logger
	Stdout   io.Writer // terminal sink output
	Color    bool
	Shadow   bool
	TGToken  string
	LLMKey   string
	Listener string // overrides http.listen when set
	// LLMClient and TGClient let tests and the demo route API calls.
	HTTPClient *http.Client
}

// service is the running box: every component, wired.
type service struct {
	o       serviceOptions
	cfg     *Config
	log     *slog.Logger
	set     *metrics.Set
	started time.Time

	store   *store.Store
	insts   map[event.Venue]*ingest.Instruments
	streams []*ingest.Stream
	pipe    *pipeline.Pipeline
	bot     *telegram.Bot
	enr     *enrich.Enricher
	term    *terminalSink
	recent  *recentSink
	minutes *usdMinutes
	stages  *stageMetrics
	http    *httpServer
}

// newService opens the log and builds every component; nothing runs yet.
func newService(o serviceOptions) (*service, error) {
	c := o.Config
	s := &service{o: o, cfg: c, log: o.Logger, set: metrics.NewSet(), started: time.Now()}
	s.insts = map[event.Venue]*ingest.Instruments{}

	path := c.StorePath()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("cannot create data directory: %w", err)
	}
	st, err := store.Open(path, store.Options{
		BatchMax:   c.Store.BatchMax,
		BatchDelay: c.Store.BatchDelay,
		QueueLen:   c.Store.Queue,
		Retention:  store.Retention{MaxAge: c.Store.RetentionAge, MaxBytes: c.Store.RetentionBytes},
		DedupTTL:   c.Pipeline.DedupWindow,
		Metrics:    s.set,
		Logger:     s.log.With("component", "store"),
	})
	if err != nil {
		return nil, err
	}
	s.store = st

	waker := ring.NewWaker()
	var rings []*ring.Ring
	for _, v := range c.EnabledVenues() {
		vs := c.Venues[v]
		vc := ingest.VenueConfig{
			StreamURL:        vs.StreamURL,
			InverseStreamURL: vs.InverseStreamURL,
			RESTURL:          vs.RESTURL,
			Conns:            vs.Conns,
			RefreshEvery:     vs.RefreshEvery,
			StaleAfter:       vs.StaleAfter,
			Snapshots:        embed.Instruments,
			HTTPClient:       o.HTTPClient,
			Logger:           s.log, // ingest adds component and venue itself
			Metrics:          s.set,
		}
		inst, err := ingest.NewInstruments(v, vc)
		if err != nil {
			st.Close()
			return nil, err
		}
		s.insts[v] = inst
		specs, err := ingest.VenueSpecs(v, vc, inst)
		if err != nil {
			st.Close()
			return nil, err
		}
		conns := vs.Conns
		if conns == 0 {
			conns = ingest.DefaultConns(v)
		}
		for _, sp := range specs {
			str := ingest.NewStream(sp, ingest.StreamOptions{
				Conns:    conns,
				RingSize: c.Pipeline.RingSize,
				Waker:    waker,
				Gaps:     gapLedger{st},
				Metrics:  s.set,
				Logger:   s.log.With("component", "ingest"),
			})
			s.streams = append(s.streams, str)
			rings = append(rings, str.Rings()...)
		}
	}

	s.stages = newStageMetrics(s.set)
	s.recent = newRecentSink(500)
	var sinks []pipeline.Sink
	if c.Telegram.Enabled && o.TGToken != "" {
		bot, err := telegram.New(telegram.Options{
			Token:             o.TGToken,
			APIURL:            c.Telegram.APIURL,
			Chats:             c.Telegram.Chats,
			AllowUsers:        c.Telegram.AllowUsers,
			MinUSD:            c.Telegram.MinUSD,
			Lang:              c.Telegram.Lang,
			RedeliverMaxAge:   c.Store.RedeliverMaxAge,
			Shadow:            c.Telegram.Shadow || o.Shadow,
			ShadowChat:        c.Telegram.ShadowChat,
			Limits:            c.Telegram.Limits,
			QueueSize:         c.Telegram.QueueSize,
			MetricsChatLabels: c.Telegram.MetricsChatLabels,
			KV:                st,
			Acker:             st,
			History:           st,
			Status:            s,
			Cost:              costSource{s},
			Metrics:           s.set,
			Logger:            s.log.With("component", "telegram"),
		})
		if err != nil {
			st.Close()
			return nil, err
		}
		s.bot = bot
		sinks = append(sinks, bot)
	} else if c.Telegram.Enabled {
		s.log.Warn("telegram is enabled but TELEGRAM_BOT_TOKEN is not set: alerts go to the terminal and the log only")
	}
	if c.Alerts.Terminal {
		s.term = newTerminalSink(o.Stdout, c.Alerts.MinUSD, o.Color, s.set)
		sinks = append(sinks, s.term)
	}
	s.minutes = &usdMinutes{}
	sinks = append(sinks, s.recent, s.minutes, s.stages, pipeline.SinkFunc(func(ev *event.Event) { st.Append(ev) }))

	var annot enrich.Sink = annotFanout{s}
	enr, err := enrich.New(enrich.Options{
		Enabled:       c.Enrich.Enabled && o.LLMKey != "",
		BaseURL:       c.Enrich.BaseURL,
		APIKey:        o.LLMKey,
		Model:         c.Enrich.Model,
		Timeout:       c.Enrich.Timeout,
		MaxTokens:     c.Enrich.MaxTokens,
		Temperature:   c.Enrich.Temperature,
		Window:        c.Enrich.Window,
		MaxBatch:      c.Enrich.MaxBatch,
		QueueLen:      c.Enrich.Queue,
		MinUSD:        c.Enrich.MinUSD,
		Lang:          c.Enrich.Lang,
		Prices:        c.Enrich.Prices,
		DailyTokenCap: c.Enrich.DailyTokenCap,
		MonthlyUSDCap: c.Enrich.MonthlyUSDCap,
		Sink:          annot,
		KV:            st,
		Metrics:       s.set,
		Logger:        s.log.With("component", "enrich"),
		HTTPClient:    o.HTTPClient,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	if c.Enrich.Enabled && o.LLMKey == "" {
		s.log.Warn("enrichment is enabled but HOLYSHEEP_API_KEY is not set: alerts get the rule-based read")
	}
	s.enr = enr
	sinks = append(sinks, pipeline.SinkFunc(enr.Observe), pipeline.SinkFunc(func(ev *event.Event) {
		// A venue's replay of old events (OKX after subscribing, BitMEX's
		// partial) was never alerted: analysing it would spend tokens on
		// messages nobody got.
		if ev.Flags&event.FlagBacklog == 0 {
			enr.Offer(ev)
		}
	}))

	s.pipe = pipeline.New(pipeline.Options{
		Rings:       rings,
		Waker:       waker,
		StartSeq:    st.LastSeq(),
		DedupWindow: c.Pipeline.DedupWindow,
		Sinks:       sinks,
		Metrics:     s.set,
		Logger:      s.log,
	})
	now := time.Now()
	if err := st.DedupKeys(now, func(k uint64) { s.pipe.SeedDedup(k, now.UnixNano()) }); err != nil {
		s.log.Warn("cannot load dedup keys from the log; a restart may repeat recent alerts", "err", err)
	}

	listen := c.HTTP.Listen
	if o.Listener != "" {
		listen = o.Listener
	}
	s.http = newHTTPServer(listen, s)
	registerBuildInfo(s.set)
	return s, nil
}

// run starts every component and blocks until ctx is cancelled, then stops
// them in reverse order of the data flow so nothing in flight is lost:
// ingest first, then the pipeline drains its rings, then the sinks, then
// the store flushes its last batch.
func (s *service) run(ctx context.Context) error {
	type stage struct {
		name   string
		cancel context.CancelFunc
		wg     sync.WaitGroup
	}
	errs := make(chan error, 16)
	start := func(st *stage, name string, fn func(context.Context) error) {
		c, cancel := context.WithCancel(context.Background())
		if st.cancel == nil {
			st.cancel = cancel
		} else {
			prev := st.cancel
			st.cancel = func() { prev(); cancel() }
		}
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			if err := fn(c); err != nil && !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("%s: %w", name, err)
				select {
				case errs <- err:
				default:
					// Only the first error is waited for; a later one
					// must not block this goroutine (and the shutdown
					// that waits for it).
					s.log.Error("component failed", "err", err)
				}
			}
		}()
	}
	storeSt := &stage{name: "store"}
	sinkSt := &stage{name: "sinks"}
	pipeSt := &stage{name: "pipeline"}
	ingestSt := &stage{name: "ingest"}
	httpSt := &stage{name: "http"}

	start(storeSt, "store", s.store.Run)
	s.redeliver()
	if s.bot != nil {
		start(sinkSt, "telegram", s.bot.Run)
	}
	start(sinkSt, "enrich", s.enr.Run)
	if s.term != nil {
		start(sinkSt, "terminal", s.term.Run)
	}
	start(pipeSt, "pipeline", s.pipe.Run)
	for v, inst := range s.insts {
		start(ingestSt, "instruments "+v.String(), inst.Run)
	}
	for _, str := range s.streams {
		start(ingestSt, "ingest "+str.Spec().Venue.String(), str.Run)
	}
	if err := s.http.listen(); err != nil {
		for _, st := range []*stage{ingestSt, pipeSt, sinkSt, storeSt} {
			if st.cancel != nil {
				st.cancel()
				st.wg.Wait()
			}
		}
		s.store.Close()
		return err
	}
	start(httpSt, "http", s.http.serve)
	s.log.Info("liqbox is running", "version", version, "venues", len(s.insts), "streams", len(s.streams),
		"http", s.http.addr(), "log", s.store.Path(), "last_seq", s.pipe.LastSeq())
	// Under systemd (Type=notify): ready now that the log and the listener
	// are up; the watchdog runs in the store stage, the last to stop.
	sd := newSDNotifier(os.Getenv, os.Getpid())
	start(storeSt, "watchdog", func(c context.Context) error { return s.watchdog(c, sd) })
	if err := sd.ready(); err != nil {
		s.log.Warn("cannot tell systemd the service is ready", "err", err)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
		s.log.Error("component failed; stopping", "err", runErr)
	}
	sd.stop()
	for _, st := range []*stage{ingestSt, pipeSt, sinkSt, httpSt, storeSt} {
		if st.cancel == nil {
			continue
		}
		t0 := time.Now()
		st.cancel()
		st.wg.Wait()
		s.log.Info("stopped", "stage", st.name, "took", time.Since(t0).Round(time.Microsecond).String())
	}
	if err := s.store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("cannot close the log: %w", err)
	}
	return runErr
}

// redeliver hands events that were logged but never delivered to the
// enrichment stage before a crash back to it, within the redelivery age.
// Telegram keeps its own outbox with the same age rule.
func (s *service) redeliver() {
	n, skipped, err := s.store.Redeliver("enrich", s.cfg.Store.RedeliverMaxAge, time.Now(), func(ev *event.Event) {
		ev.Flags |= event.FlagReplay
		s.enr.Offer(ev)
	})
	if err != nil {
		s.log.Warn("cannot redeliver events to enrichment", "err", err)
		return
	}
	if n > 0 || skipped > 0 {
		s.log.Info("redelivered events after restart", "sink", "enrich", "events", n, "skipped_too_old", skipped)
	}
}

// annotFanout sends each analysis to Telegram (to edit the alert), the
// terminal and the status feed, and acknowledges it for crash recovery.
type annotFanout struct{ s *service }

func (f annotFanout) Annotate(a event.Analysis) {
	if f.s.bot != nil {
		f.s.bot.Annotate(a)
	}
	if f.s.term != nil {
		f.s.term.annotate(a)
	}
	f.s.recent.annotate(a)
	f.s.store.Ack("enrich", a.Seq)
}

// costSource renders the enrichment cost report for /cost.
type costSource struct{ s *service }

func (c costSource) CostReport(lang string) string {
	return c.s.enr.Cost(time.Now()).Text(lang)
}

// gapLedger adapts the store to ingest.GapRecorder.
type gapLedger struct{ st *store.Store }

// OpenGap: the store keeps closed gaps only so far; an open one is shown
// from memory (ingest.Stream.CurrentGap) until it closes and RecordGap
// persists it. Persisting open gaps is the store's part of issue 13.
func (g gapLedger) OpenGap(ingest.Gap) error { return nil }

func (g gapLedger) RecordGap(x ingest.Gap) error {
	return g.st.AddGap(store.Gap{Venue: x.Venue, Stream: x.Stream, Start: x.Start, End: x.End, Cause: x.Cause})
}

// Status implements telegram.StatusSource.
func (s *service) Status() telegram.StatusReport {
	r := telegram.StatusReport{Version: version, Uptime: time.Since(s.started)}
	byVenue := map[string]*telegram.VenueStatus{}
	var order []string
	for _, str := range s.streams {
		name := str.Spec().Venue.String()
		vs := byVenue[name]
		if vs == nil {
			vs = &telegram.VenueStatus{Venue: name, LastFrame: -1}
			byVenue[name] = vs
			order = append(order, name)
		}
		for _, cs := range str.States() {
			vs.Configured++
			if cs.Connected {
				vs.Connections++
			}
			if !cs.LastFrame.IsZero() {
				age := time.Since(cs.LastFrame)
				if vs.LastFrame < 0 || age < vs.LastFrame {
					vs.LastFrame = age
				}
			}
		}
		for _, rg := range str.Rings() {
			r.RingDepth += rg.Len()
			r.RingCap += rg.Cap()
			r.RingDrops += rg.Drops()
		}
	}
	if gaps, err := s.store.Gaps(time.Now().Add(-24 * time.Hour)); err == nil {
		for _, g := range gaps {
			if vs := byVenue[g.Venue]; vs != nil {
				vs.Gaps24h++
			}
		}
	}
	for _, n := range order {
		r.Venues = append(r.Venues, *byVenue[n])
	}
	r.DiskBytes = s.store.Size()
	r.DiskLimit = s.cfg.Store.RetentionBytes
	st := s.enr.State()
	r.Enrichment = st.String()
	if off := s.stages.clockOffset(); !math.IsNaN(off) {
		r.ClockKnown = true
		r.ClockOffset = time.Duration(off * 1e9)
		r.ClockBound = s.cfg.HTTP.ClockWarn
		r.ClockWarn = math.Abs(off) > s.cfg.HTTP.ClockWarn.Seconds()
	}
	return r
}

// isTerminal reports whether w is a character device (a TTY), to decide on
// colours without a dependency.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
