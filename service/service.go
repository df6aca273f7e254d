// Package service assembles the box: it builds every component from the
// layered configuration (embedded default → file → flags), runs them, and
// stops them in order; it owns the sinks beside the pipeline (terminal,
// recent events, USD per minute, stage metrics), the HTTP window
// (/metrics, /healthz, the status page and its JSON API) and systemd
// readiness and watchdog. `liqbox run`, `liqbox demo` and `liqbox bench`
// all build it with New.
//
// Lifetime, as litestream's components:
//
//	svc, err := service.New(opts) // fills defaults, opens the log, builds every component; nothing runs
//	err = svc.Open()              // binds HTTP, starts the owned goroutines, tells systemd it is ready
//	err = <-svc.Failed()          // (optional) the first component failure
//	err = svc.Close()             // cancels in reverse data-flow order, each step timed in the log,
//	                              // waits for every goroutine, closes the log
//
// Run(ctx) is Open, wait for ctx or a component failure, Close. After New
// succeeds, Close must be called once, whether or not Open was (it closes
// the log). If Open fails nothing was started.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/buildinfo"
	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/pipeline"
	"github.com/liqbox/liqbox/ring"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram"
)

// Options are what differ between `run`, `demo`, `bench` and tests.
// Config is required; zero values of the rest take the defaults in brackets.
type Options struct {
	Config *Config
	Logger *slog.Logger // [discard]
	Stdout io.Writer    // where the terminal sink writes (alerts.terminal) [io.Discard]
	Color  bool         // ANSI colours on the terminal lines
	Shadow bool         // --shadow: Telegram only to telegram.shadow_chat, or nowhere
	// TGToken and LLMKey are the secrets (from the environment or their
	// 0600 files); without them Telegram is off and enrichment uses rules.
	TGToken string
	LLMKey  string
	// Listener, when set, serves HTTP instead of binding http.listen; the
	// service closes it.
	Listener net.Listener
	// HTTPClient, when set, carries the venues' REST calls and the LLM's
	// requests [each component's own].
	HTTPClient *http.Client
	// ReconnectGrace is how long a venue may have no live connection
	// before /healthz fails [45 s].
	ReconnectGrace time.Duration
	// Observer is the observation hook (the load test's and tests').
	Observer Observer
}

// Observer hands what the service did to a load test or a test as
// objects, never as printed text. Every func may be nil; each is called
// from a service goroutine and must return at once.
type Observer struct {
	// Printed is called by the terminal sink's goroutine right after it
	// formatted an alert's line, with the moment it did: at − ev.RecvNs
	// is the line's on-box figure. ev is valid only during the call.
	Printed func(ev *event.Event, at time.Time)
	// Analysed is called for every analysis the enrichment stage
	// delivers, after Telegram, the terminal and the status feed got it.
	Analysed func(a event.Analysis)
	// Cascade is called when a chat's cascade rule fires, as its cascade
	// changes and when it closes (the snapshot's State), after Telegram
	// got it; x is valid only during the call, which holds the rule
	// engine's lock.
	Cascade func(x *cascade.Snapshot)
	// Telegram is told what the bot's requests carried, by message id
	// (see telegram.Observer): with a loopback Bot API's arrival times,
	// the latency where the user is.
	Telegram telegram.Observer
}

// Service is the running box: every component, wired.
type Service struct {
	o       Options
	cfg     *Config
	log     *slog.Logger
	set     *metrics.Set // handed to the components; help texts via metricdoc
	started time.Time

	store   *store.Store
	insts   map[event.Venue]*ingest.Instruments
	streams []*ingest.Stream // the venues' own, then the relay's
	pipe    *pipeline.Pipeline
	casc    *cascade.Engine
	bot     *telegram.Bot
	enr     *enrich.Enricher
	term    *terminalSink
	recent  *recentSink
	minutes *usdMinutes
	assets  *topAssets
	stages  *stageMetrics
	http    *httpServer
	bus     *busParts // nil without [bus]

	// Lifetime: stages in data-flow order, their errors, systemd.
	storeSt, sinkSt, pipeSt, ingestSt, httpSt, busSt *stage
	errs                                             chan error
	failErr                                          error
	sd                                               *sdNotifier
	opened, closed                                   bool
}

// New opens the log and builds every component; nothing runs yet.
func New(o Options) (*Service, error) {
	c := o.Config
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.ReconnectGrace <= 0 {
		o.ReconnectGrace = reconnectGrace
	}
	s := &Service{o: o, cfg: c, log: o.Logger, set: metrics.NewSet(), started: time.Now(),
		errs: make(chan error, 16)}
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
		Heartbeat:  c.Store.Heartbeat,
		Metrics:    s.set,
		Logger:     s.log.With("component", "store"),
	})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.assets = &topAssets{st: st}

	// The previous run's end is where every stream's first gap starts: the
	// box's own downtime is blindness like any other.
	var downSince time.Time
	var downCause string
	if prev, ok := st.PreviousRun(); ok {
		downSince, downCause = prev.LastAlive, ingest.CauseCrashed
		if prev.Clean {
			downCause = ingest.CauseNotRunning
		}
	}
	waker := ring.NewWaker()
	var rings []*ring.Ring
	streamOpts := ingest.StreamOptions{
		RingSize:  c.Pipeline.RingSize,
		Waker:     waker,
		Gaps:      gapLedger{st},
		DownSince: downSince,
		DownCause: downCause,
		Metrics:   s.set,
		Logger:    s.log.With("component", "ingest"),
	}
	for _, v := range c.EnabledVenues() {
		vs := c.Venues[v]
		vc := ingest.VenueConfig{
			StreamURL:        vs.StreamURL,
			InverseStreamURL: vs.InverseStreamURL,
			RESTURL:          vs.RESTURL,
			Snapshots:        embed.Instruments,
			Conns:            vs.Conns,
			RefreshEvery:     vs.RefreshEvery,
			StaleAfter:       vs.StaleAfter,
			Canary:           vs.Canary,
			InverseCanary:    vs.InverseCanary,
			CanaryAfter:      vs.CanaryAfter,
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
			so := streamOpts
			so.Conns = conns
			str := ingest.NewStream(sp, so)
			s.streams = append(s.streams, str)
			rings = append(rings, str.Rings()...)
		}
	}
	relay, cross, err := s.newRelay(o.LLMKey, streamOpts)
	if err != nil {
		st.Close()
		return nil, err
	}
	for _, str := range relay {
		s.streams = append(s.streams, str)
		rings = append(rings, str.Rings()...)
	}

	// The bus: the consumer is one more source of the pipeline.
	if s.bus, err = s.newBus(c, waker); err != nil {
		st.Close()
		return nil, err
	}
	rings = append(rings, s.bus.rings()...)

	s.stages = newStageMetrics(s.set)
	s.recent = newRecentSink(500)
	var sinks []pipeline.Sink
	s.casc = cascade.New(cascade.Options{Sink: cascadeFanout{s}, Metrics: s.set, Logger: s.log.With("component", "cascade")})
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
			Observer:          o.Observer.Telegram,
			QueueSize:         c.Telegram.QueueSize,
			MetricsChatLabels: c.Telegram.MetricsChatLabels,
			AnalysisMaxAge:    c.Enrich.AnalysisMaxAge,
			Cascades:          s.casc,
			CascadeRules:      c.Telegram.Cascades,
			KV:                st,
			AsyncKV:           st,
			Acker:             st,
			Log:               st,
			Analyses:          storedAnalyses{st},
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
		// The cascade rules right after the raw alerts: a cascade alert
		// has a raw alert's priority.
		sinks = append(sinks, bot, s.casc)
	} else if c.Telegram.Enabled {
		s.log.Warn("telegram is enabled but TELEGRAM_BOT_TOKEN is not set: alerts go to the terminal and the log only")
	}
	if c.Alerts.Terminal {
		s.term = newTerminalSink(o.Stdout, c.Alerts.MinUSD, o.Color, s.set, o.Observer.Printed)
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
		Acker:         st,
		EditMaxAge:    c.Enrich.AnalysisMaxAge,
		MaxInFlight:   c.Enrich.MaxInFlight,
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
	// The rules read and the model's context start from the log's last
	// hour, not from nothing, so the first analyses after a restart see the
	// same past as before it. Before the redelivery: it is counted once.
	if n, err := enr.Seed(st, time.Now()); err != nil {
		s.log.Warn("cannot rebuild enrichment's aggregates from the log; the first analyses see less history", "err", err)
	} else if n > 0 {
		s.log.Info("rebuilt enrichment's aggregates from the log", "events", n)
	}
	s.seedCascades(st, time.Now())
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
		Cross:       cross,
		Metrics:     s.set,
		Logger:      s.log,
	})
	now := time.Now()
	if err := st.DedupKeys(now, func(k uint64) { s.pipe.SeedDedup(k, now.UnixNano()) }); err != nil {
		s.log.Warn("cannot load dedup keys from the log; a restart may repeat recent alerts", "err", err)
	}

	// The stage histograms the page shows, in no particular order.
	stages := []stageSource{s.stages.exchToRecv}
	for _, h := range s.pipe.Stages() {
		stages = append(stages, h)
	}
	if s.term != nil {
		stages = append(stages, s.term.lat)
	}
	if s.bot != nil {
		for _, h := range s.bot.Stages() {
			stages = append(stages, h)
		}
	}
	s.http = newHTTPServer(c.HTTP.Listen, o.Listener, s, newStageLatency(s.started, stages...))
	registerBuildInfo(s.set)
	return s, nil
}

// stage is one step of the start and stop order: the goroutines it
// started, under one cancel.
type stage struct {
	name   string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start runs fn in a goroutine owned by st. Only the first component
// failure is kept (Failed); a later one is logged.
func (s *Service) start(st *stage, name string, fn func(context.Context) error) {
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
			case s.errs <- err:
			default:
				// Only the first error is waited for; a later one must
				// not block this goroutine (and the shutdown that waits
				// for it).
				s.log.Error("component failed", "err", err)
			}
		}
	}()
}

// Open binds the HTTP listener and starts every component in data-flow
// order from the log up: the store, redelivery, the sinks, the pipeline,
// ingest, then HTTP and the systemd watchdog; then it tells systemd the
// service is ready. When the listener cannot be bound it returns the
// error and nothing runs.
func (s *Service) Open() error {
	if s.opened || s.closed {
		return errors.New("service: Open called twice or after Close")
	}
	s.opened = true
	if err := s.http.listen(); err != nil {
		return err
	}
	s.storeSt, s.sinkSt = &stage{name: "store"}, &stage{name: "sinks"}
	s.pipeSt, s.ingestSt, s.httpSt = &stage{name: "pipeline"}, &stage{name: "ingest"}, &stage{name: "http"}
	s.busSt = &stage{name: "bus"}

	s.start(s.storeSt, "store", s.store.Run)
	s.redeliver()
	if s.bot != nil {
		s.start(s.sinkSt, "telegram", s.bot.Run)
	}
	s.start(s.sinkSt, "enrich", s.enr.Run)
	s.start(s.sinkSt, "cascade", s.casc.Run)
	if s.term != nil {
		s.start(s.sinkSt, "terminal", s.term.Run)
	}
	s.start(s.pipeSt, "pipeline", s.pipe.Run)
	for v, inst := range s.insts {
		s.start(s.ingestSt, "instruments "+v.String(), inst.Run)
	}
	for _, str := range s.streams {
		s.start(s.ingestSt, "ingest "+str.Spec().Venue.String(), str.Run)
	}
	s.openBus()
	s.start(s.httpSt, "http", s.http.serve)
	s.log.Info("liqbox is running", "version", buildinfo.Version(), "venues", len(s.insts), "streams", len(s.streams),
		"http", s.http.addr(), "log", s.store.Path(), "last_seq", s.pipe.LastSeq())
	// Under systemd (Type=notify): ready now that the log and the listener
	// are up; the watchdog runs in the store stage, the last to stop.
	s.sd = newSDNotifier(os.Getenv, os.Getpid())
	sd := s.sd
	s.start(s.storeSt, "watchdog", func(c context.Context) error { return s.watchdog(c, sd) })
	if err := sd.ready(); err != nil {
		s.log.Warn("cannot tell systemd the service is ready", "err", err)
	}
	return nil
}

// Failed delivers the first component failure while the service runs.
func (s *Service) Failed() <-chan error { return s.errs }

// Close stops every component in reverse order of the data flow so that
// nothing in flight is lost: ingest (and the bus consumer) first, then the
// pipeline drains its rings, then the sinks (the bus publisher with them),
// then the bus connection, HTTP, then the store flushes its last batch and
// the log is closed. Each step is timed in the log. It returns the
// first component failure, or the error closing the log.
func (s *Service) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.failErr == nil {
		select {
		case s.failErr = <-s.errs:
		default:
		}
	}
	if s.sd != nil {
		s.sd.stop()
	}
	for _, st := range []*stage{s.ingestSt, s.pipeSt, s.sinkSt, s.busSt, s.httpSt, s.storeSt} {
		if st == nil || st.cancel == nil {
			continue
		}
		t0 := time.Now()
		st.cancel()
		st.wg.Wait()
		s.log.Info("stopped", "stage", st.name, "took", time.Since(t0).Round(time.Microsecond).String())
	}
	if !s.opened {
		s.http.closeListener()
	}
	if err := s.store.Close(); err != nil && s.failErr == nil {
		return fmt.Errorf("cannot close the log: %w", err)
	}
	return s.failErr
}

// Run opens the service, runs it until ctx is cancelled or a component
// fails, then closes it.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Open(); err != nil {
		s.Close()
		return err
	}
	select {
	case <-ctx.Done():
	case s.failErr = <-s.errs:
		s.log.Error("component failed; stopping", "err", s.failErr)
	}
	return s.Close()
}

// Addr is the bound HTTP address ("" before Open or when HTTP is off).
func (s *Service) Addr() string { return s.http.addr() }

// LastSeq is the last sequence number the pipeline assigned.
func (s *Service) LastSeq() uint64 { return s.pipe.LastSeq() }

// Metrics is the service's metric registry (what /metrics shows of it).
func (s *Service) Metrics() *metrics.Set { return s.set }

// Streams are the ingest streams, one per venue stream.
func (s *Service) Streams() []*ingest.Stream { return s.streams }

// Store is the log.
func (s *Service) Store() *store.Store { return s.store }

// redeliver hands events that were logged but never delivered to the
// enrichment stage before a crash back to it, within the redelivery age.
// Telegram reads its chats' checkpoints back itself, in Bot.Run.
func (s *Service) redeliver() {
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

// annotFanout sends each analysis to Telegram (to edit the alert, unless
// it is late), the terminal and the status feed. The enricher acknowledges
// it to the store itself, once it is stored.
type annotFanout struct{ s *Service }

func (f annotFanout) Annotate(a event.Analysis) {
	// A late analysis is kept (the log, the page) but edits no alert.
	if f.s.bot != nil && !a.Late {
		f.s.bot.Annotate(a)
	}
	if f.s.term != nil {
		f.s.term.annotate(a)
	}
	f.s.recent.annotate(a)
	if f.s.o.Observer.Analysed != nil {
		f.s.o.Observer.Analysed(a)
	}
}

// storedAnalyses gives the bot the analyses enrich stored, for alerts
// still awaiting theirs after a restart.
type storedAnalyses struct{ kv enrich.KV }

func (s storedAnalyses) LoadAnalysis(seq uint64) (event.Analysis, bool, error) {
	return enrich.LoadAnalysis(s.kv, seq)
}

// costSource renders the enrichment cost report for /cost.
type costSource struct{ s *Service }

func (c costSource) CostReport(lang string) string {
	return c.s.enr.Cost(time.Now()).Text(lang)
}

// gapLedger adapts the store to ingest.GapRecorder. An open gap is one
// record from the moment it opens (End zero), so `liqbox gaps` in another
// process sees it while it lasts; closing it rewrites the same record.
type gapLedger struct{ st *store.Store }

func (g gapLedger) OpenGap(x ingest.Gap) error {
	return g.st.AddGap(store.Gap{Venue: x.Venue, Stream: x.Stream, Start: x.Start, Cause: x.Cause})
}

func (g gapLedger) RecordGap(x ingest.Gap) error {
	return g.st.AddGap(store.Gap{Venue: x.Venue, Stream: x.Stream, Start: x.Start, End: x.End, Cause: x.Cause})
}

// NewLogger builds the process logger from the config.
func NewLogger(w io.Writer, c *Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.General.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	if c.General.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// registerBuildInfo exports the build as liqbox_build_info.
func registerBuildInfo(set *metrics.Set) {
	metricdoc.Gauge(set, fmt.Sprintf(`liqbox_build_info{version=%q,commit=%q,goversion=%q,goarch=%q}`,
		buildinfo.Version(), buildinfo.Commit(), runtime.Version(), runtime.GOARCH),
		"Build of the running binary (value is always 1).", func() float64 { return 1 })
}
