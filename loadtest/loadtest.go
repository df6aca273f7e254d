package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	gometrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// Options are `liqbox bench`'s flags.
type Options struct {
	Rate        int           // frames per second (steady, and before a burst; the soak's; the sparse pattern's background) [2000, sparse 500]
	Duration    time.Duration // length of the steady, mix or sparse run
	Pattern     string        // steady, burst, mix or sparse
	BurstRate   int           // frames per second during the burst
	BurstFor    time.Duration // length of the burst
	Soak        time.Duration // soak this long with enrichment on, sampling memory (steady pattern)
	SampleEvery time.Duration // soak sampling period
	Conns       int           // connections to the (Binance USD-M) loopback exchange
	TGMinUSD    float64       // the chat's alert threshold (and enrichment's)
	LLMDelay    time.Duration // how long the loopback LLM takes to answer (sparse and soak, which enrich)
	LargeUSD    float64       // the sparse pattern's large liquidation [600k]
	Dir         string        // directory for the log (default: a temporary one, removed after)
}

// Validate says what is wrong with o, naming the flag. A zero value takes
// its default (see withDefaults).
func (o Options) Validate() error {
	switch o.Pattern {
	case "steady", "burst", "mix", "sparse":
	default:
		return fmt.Errorf("--pattern %q: want steady, burst, mix or sparse", o.Pattern)
	}
	if o.Pattern != "steady" && o.Soak > 0 {
		return errors.New("--soak runs the steady pattern only; drop --pattern")
	}
	if o.Rate < 0 || o.BurstRate < 0 || o.Conns < 0 || o.BurstFor < 0 || o.SampleEvery < 0 {
		return errors.New("--rate, --burst-rate, --burst-for, --sample-every and --conns must be positive")
	}
	if o.LLMDelay < 0 || o.LargeUSD < 0 {
		return errors.New("--llm-delay and --large-usd must not be negative")
	}
	if o.Pattern == "sparse" && o.withDefaults().LargeUSD < o.TGMinUSD {
		return fmt.Errorf("--large-usd %.0f is below --tg-min-usd %.0f: the sparse pattern's large liquidations would not alert", o.LargeUSD, o.TGMinUSD)
	}
	return nil
}

// withDefaults fills the defaults of what is zero, the pattern's own
// where it has one.
func (o Options) withDefaults() Options {
	if o.BurstRate == 0 {
		o.BurstRate = 50000
	}
	if o.BurstFor == 0 {
		o.BurstFor = 10 * time.Second
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = 10 * time.Second
	}
	if o.Conns == 0 {
		o.Conns = 2
	}
	if o.Rate == 0 {
		o.Rate = 2000
		if o.Pattern == "sparse" {
			o.Rate = 500
		}
	}
	if o.LargeUSD == 0 {
		o.LargeUSD = 600_000
	}
	return o
}

// enriched reports whether the run analyses its alerts.
func (o Options) enriched() bool { return o.Soak > 0 || o.Pattern == "sparse" }

// expectedEvents is how many events the run will send, for sizing buffers.
func (o Options) expectedEvents() int {
	d := o.Duration
	if o.Soak > 0 {
		d = o.Soak
	}
	n := float64(o.Rate) * (d.Seconds() + 5)
	if o.Pattern == "burst" {
		n += float64(o.BurstRate) * o.BurstFor.Seconds()
	}
	return int(min(n, 1<<26))
}

// Result is what a bench run measured.
type Result struct {
	o                         Options
	sent                      int64
	elapsed                   time.Duration
	logged                    int
	lastSeq                   uint64
	seqOK                     bool
	ringDrops                 uint64
	storeDrops                float64
	decoded, decodeErrs, dups float64 // every connection's events, decode errors, copies dedup dropped
	tgDrops                   float64 // analyses dropped from a chat's queue
	tgFolded                  float64 // alerts counted straight into a digest (queue full)
	tgTooOld                  float64 // analyses too old for the chat
	termDrops                 float64
	slowKicks                 bool
	onBox                     []time.Duration // every event the terminal prints: receive → sink goroutine formats it
	// bot is what reached the loopback Bot API, per alert: the headline.
	bot                atBotReport
	large              int             // the sparse pattern's large liquidations sent
	floor              []time.Duration // the sparse pattern's HTTP floor (httpFloor)
	tgMessages         int             // message requests the Bot API accepted
	digestLag          time.Duration   // burst end → last digest update
	digestCount        int
	tgEnqueued         float64
	tgSingle           float64
	peakRSS, rss       int64
	peakAnon, peakFile int64 // sampled peaks of RssAnon and RssFile
	peakHeap           int64 // sampled peak of the Go heap in use
	cpu                time.Duration
	load0, load1       string
	soak               []soakSample
	llmAnswered        int64
	goVersion, cpuName string
	failed             bool // a target was missed
	notes              []string
	mix                *mixResult // --pattern mix only
}

// mixResult is the per-venue account of a mix run.
type mixResult struct {
	src      *mixSource
	venues   []mixVenueResult
	mismatch int // logged events no frame sent: wrong side, symbol, price or notional
}

type mixVenueResult struct {
	venue      event.Venue
	sent       int64
	decoded    float64 // liqbox_ingest_events_total, every connection
	decodeErrs float64
	logged     int
	long       int
	short      int
	unknownUSD int // logged with no notional
	onBox      []time.Duration
}

func (m *mixResult) lane(v event.Venue) *mixVenueResult {
	for i := range m.venues {
		if m.venues[i].venue == v {
			return &m.venues[i]
		}
	}
	return nil
}

type soakSample struct {
	at         time.Duration
	heap, rss  int64
	goroutines int
}

// onBox records every alert line the terminal sink writes, through the
// service's observation hook: the line's on-box figure, receive → the
// sink's goroutine formatting it (as the Telegram scheduler formats a
// message before writing its request), to the microsecond the line shows.
type onBox struct {
	mu      sync.Mutex // guards samples and venues
	samples []time.Duration
	// tagVenue also records each sample's venue, for the mix pattern's
	// per-venue figures.
	tagVenue bool
	venues   []event.Venue
}

func (l *onBox) printed(ev *event.Event, at time.Time) {
	d := time.Duration(at.UnixNano() - ev.RecvNs).Truncate(time.Microsecond)
	l.mu.Lock()
	l.samples = append(l.samples, d)
	if l.tagVenue {
		l.venues = append(l.venues, ev.Venue)
	}
	l.mu.Unlock()
}

func (l *onBox) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.samples...)
}

// byVenue returns the samples of venue v (tagVenue only).
func (l *onBox) byVenue(v event.Venue) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for i, x := range l.venues {
		if x == v {
			out = append(out, l.samples[i])
		}
	}
	return out
}

// Run runs the load test o describes on a Rig and measures it; the
// service logs to logw. The returned Result says whether a target was
// missed.
func Run(ctx context.Context, o Options, logw io.Writer) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	r := &Result{o: o, goVersion: runtime.Version(), cpuName: cpuModel(), load0: loadAvg()}
	var (
		src  *frameSource
		msrc *mixSource
		err  error
	)
	mix, sparse := o.Pattern == "mix", o.Pattern == "sparse"
	if mix {
		if msrc, err = newMixSource(); err != nil {
			return nil, err
		}
		r.mix = &mixResult{src: msrc}
		for _, l := range msrc.lanes {
			r.mix.venues = append(r.mix.venues, mixVenueResult{venue: l.venue})
		}
	} else if src, err = newFrameSource(); err != nil {
		return nil, err
	}
	if sparse {
		// The background stays below every threshold: only the large
		// liquidations alert, are analysed and reach the terminal.
		src.below(o.TGMinUSD / 2)
	}
	// Room for every sample up front: a slice that doubles as it fills
	// would be the bench's own memory growth, and the soak measures growth.
	lat := &onBox{samples: make([]time.Duration, 0, o.expectedEvents()+1<<12), tagVenue: mix}
	watch := newAtBotAPI()
	rig, err := StartRig(ctx, RigOptions{Dir: o.Dir, Conns: o.Conns, Mix: mix,
		Bot: telegramtest.Options{OnRequest: watch.request},
		LLM: enrichtest.Options{Delay: o.LLMDelay},
		Edit: func(c *service.Config, so *service.Options) {
			c.Telegram.MinUSD = o.TGMinUSD
			c.Enrich.Enabled = o.enriched()
			c.Enrich.MinUSD = o.TGMinUSD
			if sparse {
				c.Alerts.MinUSD = o.TGMinUSD
			}
			so.Logger = service.NewLogger(logw, c)
			so.Observer.Printed = lat.printed
			so.Observer.Analysed = watch.analysed
			so.Observer.Telegram = watch.observer()
			l := c.Telegram.Limits
			watch.budgetSpan = time.Duration(max(l.Burst, 1)) * l.PerChat
		}})
	if err != nil {
		return nil, err
	}
	defer rig.Close()
	svc, ex := rig.Service, rig.Exchange
	startSeq := svc.LastSeq()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	// VmHWM is one number for everything: sample what it is made of, so
	// the report can tell private memory from the log's file-backed mmap
	// pages (page cache the kernel reclaims under pressure).
	memCtx, stopMem := context.WithCancel(ctx)
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-memCtx.Done():
				return
			case <-t.C:
			}
			r.peakAnon = max(r.peakAnon, procStatus("RssAnon"))
			r.peakFile = max(r.peakFile, procStatus("RssFile"))
			runtime.ReadMemStats(&ms)
			r.peakHeap = max(r.peakHeap, int64(ms.HeapInuse))
		}
	}()

	var burstEnd time.Time
	switch {
	case o.Soak > 0:
		r.soak = soakRun(ctx, ex, src, o, &r.sent)
	case o.Pattern == "steady":
		r.sent += emit(ctx, ex, src, o.Rate, o.Duration)
	case mix:
		r.sent += emitMix(ctx, rig.mix, msrc, o.Rate, o.Duration)
	case sparse:
		floor := newHTTPFloor(rig.Bot.URL())
		watch.probe = floor.arrived
		pctx, stopProbe := context.WithCancel(ctx)
		probed := make(chan struct{})
		go func() { defer close(probed); floor.run(pctx) }()
		var large int64
		large, r.sent = emitSparse(ctx, ex, src, o)
		r.large = int(large)
		stopProbe()
		<-probed
		r.floor = floor.samples
	case o.Pattern == "burst":
		r.sent += emit(ctx, ex, src, o.Rate, 2*time.Second)
		r.sent += emit(ctx, ex, src, o.BurstRate, o.BurstFor)
		burstEnd = time.Now()
	}
	r.elapsed = time.Since(t0)
	// Let the pipeline and the log catch up: every distinct frame is one
	// sequence number.
	want := startSeq + uint64(r.sent)
	deadline := time.Now().Add(15 * time.Second)
	for svc.LastSeq() < want && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	switch {
	case !burstEnd.IsZero():
		// The digest is current once the Bot API has seen no request for
		// two send slots; then measure when its last update landed.
		quietFor := 2500 * time.Millisecond
		last := time.Now()
		n := watch.requests()
		for time.Since(last) < quietFor && time.Since(burstEnd) < 20*time.Second && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			if m := watch.requests(); m != n {
				n, last = m, time.Now()
			}
		}
	case o.enriched():
		// Every alert's analysis is due within the edit age; give the
		// last ones the time they may take (and no more than the age).
		deadline := time.Now().Add(rig.Config.Enrich.AnalysisMaxAge)
		for ctx.Err() == nil && time.Now().Before(deadline) {
			if rep := watch.report(); rep.analysed+rep.late >= rep.alerts && rep.seen >= rep.alerts {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // an edit in flight lands
	default:
		time.Sleep(1500 * time.Millisecond) // one Telegram send slot
	}
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	r.cpu = rusageCPU(&ru1) - rusageCPU(&ru0)
	stopMem()
	<-memDone
	r.peakRSS, r.rss = procStatus("VmHWM"), procStatus("VmRSS")
	r.load1 = loadAvg()
	r.llmAnswered = rig.LLM.Answered()

	for _, st := range svc.Streams() {
		for _, rg := range st.Rings() {
			r.ringDrops += rg.Drops()
		}
	}
	set := svc.Metrics()
	r.lastSeq = svc.LastSeq() - startSeq
	r.storeDrops = CounterSum(set, "liqbox_store_dropped_total")
	r.decoded = CounterSum(set, "liqbox_ingest_events_total")
	r.decodeErrs = CounterSum(set, "liqbox_ingest_decode_errors_total")
	r.dups = CounterSum(set, "liqbox_pipeline_duplicates_total")
	r.tgDrops = CounterSum(set, "liqbox_telegram_dropped_total")
	r.tgTooOld = CounterSum(set, `liqbox_telegram_dropped_total{reason="analysis_too_old"}`)
	r.tgFolded = CounterSum(set, "liqbox_telegram_overflow_folded_total")
	r.termDrops = CounterSum(set, "liqbox_terminal_dropped_total")
	r.tgEnqueued = CounterSum(set, "liqbox_telegram_enqueued_total")
	r.tgSingle = CounterSum(set, `liqbox_telegram_sent_total{kind="alert"}`)
	r.slowKicks = ex.Accepted() > int64(o.Conns)
	if mix {
		r.slowKicks = rig.mix.SlowKicks()
		decoded := venueCounts(set, "liqbox_ingest_events_total")
		errs := venueCounts(set, "liqbox_ingest_decode_errors_total")
		for _, l := range msrc.lanes {
			vr := r.mix.lane(l.venue)
			vr.sent, vr.decoded, vr.decodeErrs = l.sent, decoded[l.venue], errs[l.venue]
		}
	}
	if err := rig.Stop(); err != nil {
		return nil, fmt.Errorf("the service failed during the bench: %w", err)
	}
	r.onBox = lat.take()
	if r.mix != nil {
		for i := range r.mix.venues {
			r.mix.venues[i].onBox = lat.byVenue(r.mix.venues[i].venue)
		}
	}
	r.tgMessages = watch.requests()
	r.bot = watch.report()
	if !burstEnd.IsZero() && r.bot.digestCount > 0 {
		r.digestLag, r.digestCount = r.bot.digestAt.Sub(burstEnd), r.bot.digestCount
	}
	if err := r.checkLog(rig.Config.StorePath(), startSeq); err != nil {
		return nil, err
	}
	r.judge()
	return r, nil
}

// emit broadcasts frames at rate per second for d, in 1 ms steps, and
// returns how many it sent.
// emitTick spaces the mix's frames evenly (one per 1/rate, at least 200 µs
// apart): different exchanges do not push in lockstep, and the mix's frames
// sent in pairs every millisecond made two venues' connections contend for
// the same instant (p50 121 µs in 1 ms steps, 38 µs spaced).
func emitTick(rate int) time.Duration {
	if rate <= 0 {
		return time.Millisecond
	}
	return max(time.Second/time.Duration(rate), 200*time.Microsecond)
}

func emit(ctx context.Context, ex *ingesttest.Loopback, src *frameSource, rate int, d time.Duration) int64 {
	// One venue's frames leave in 1 ms steps, several per step at high
	// rates: Binance pushes its liquidation snapshots in clumps, so a
	// connection reading more than one frame at a time is the real case.
	return pace(ctx, rate, d, time.Millisecond, func(nowMs int64) {
		ex.Broadcast(src.next(nowMs))
	})
}

// pace calls send rate times a second for d, in steps of tick, catching up
// on what is due at each step; it returns how many it sent.
func pace(ctx context.Context, rate int, d, tick time.Duration, send func(nowMs int64)) int64 {
	start := time.Now()
	var sent int64
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		el := time.Since(start)
		if el >= d || ctx.Err() != nil {
			return sent
		}
		due := int64(el.Seconds()*float64(rate)) + 1
		now := time.Now().UnixMilli()
		for ; sent < due; sent++ {
			send(now)
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

// soakRun emits at o.Rate for o.Soak and samples memory every o.SampleEvery.
func soakRun(ctx context.Context, ex *ingesttest.Loopback, src *frameSource, o Options, sent *int64) []soakSample {
	var out []soakSample
	start := time.Now()
	// The trend is taken on what a leak grows: the heap still live after
	// the last collection (HeapAlloc is a sawtooth of garbage) and private
	// memory (RssAnon; VmRSS also holds the log's mmap, which grows with
	// the log and shrinks when bbolt remaps).
	live := []gometrics.Sample{{Name: "/gc/heap/live:bytes"}}
	sample := func() {
		gometrics.Read(live)
		var h int64
		if live[0].Value.Kind() == gometrics.KindUint64 {
			h = int64(live[0].Value.Uint64())
		}
		out = append(out, soakSample{at: time.Since(start), heap: h, rss: procStatus("RssAnon"), goroutines: runtime.NumGoroutine()})
	}
	sample()
	for time.Since(start) < o.Soak && ctx.Err() == nil {
		step := min(o.SampleEvery, o.Soak-time.Since(start))
		*sent += emit(ctx, ex, src, o.Rate, step)
		sample()
	}
	return out
}

// checkLog opens the log read-only and checks that every event sent is in
// it exactly once, with consecutive sequence numbers.
func (r *Result) checkLog(path string, startSeq uint64) error {
	st, err := store.Open(path, store.Options{ReadOnly: true, Metrics: metrics.NewSet()})
	if err != nil {
		return fmt.Errorf("cannot open the bench log: %w", err)
	}
	defer st.Close()
	prev := startSeq
	r.seqOK = true
	err = st.Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
		if ev.Seq <= startSeq {
			return nil
		}
		if ev.Seq != prev+1 {
			r.seqOK = false
		}
		prev = ev.Seq
		r.logged++
		if r.mix != nil {
			r.mix.tally(ev)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot scan the bench log: %w", err)
	}
	return nil
}

// judge compares the run with the targets of the issue.
func (r *Result) judge() {
	miss := func(f string, a ...any) {
		r.failed = true
		r.notes = append(r.notes, "MISSED: "+fmt.Sprintf(f, a...))
	}
	if int64(r.logged) != r.sent || !r.seqOK {
		miss("%d events logged of %d sent (sequence consecutive: %v)", r.logged, r.sent, r.seqOK)
	}
	if r.ringDrops > 0 || r.storeDrops > 0 {
		miss("drops: ring %d, store %.0f", r.ringDrops, r.storeDrops)
	}
	if r.slowKicks {
		miss("the loopback exchange dropped a reader as too slow")
	}
	if r.mix != nil {
		for _, v := range r.mix.venues {
			if int64(v.logged) != v.sent {
				miss("%s: %d events logged of %d frames sent", v.venue, v.logged, v.sent)
			}
			if v.decodeErrs > 0 {
				miss("%s: %.0f frames failed to decode", v.venue, v.decodeErrs)
			}
		}
		if r.mix.mismatch > 0 {
			miss("%d logged events match no frame sent (side, symbol, price or USD notional wrong)", r.mix.mismatch)
		}
	}
	if r.o.Soak == 0 && (r.o.Pattern == "steady" || r.o.Pattern == "mix") && r.o.Rate <= 2000 {
		if p := pct(r.onBox, 50); p > 100*time.Microsecond {
			miss("p50 %v > 100µs", p)
		}
		if p := pct(r.onBox, 99); p > time.Millisecond {
			miss("p99 %v > 1ms", p)
		}
	}
	if r.o.Pattern == "sparse" {
		r.judgeSparse(miss)
	}
	if r.o.Pattern == "burst" && r.o.Soak == 0 {
		// The target is on private memory: VmHWM also counts file-backed
		// pages (the binary, the log's mmap) that are page cache the kernel
		// reclaims. Private memory here still includes the loopback
		// exchange and Bot API, so it over-states the service.
		if r.peakAnon > 64<<20 {
			miss("peak private memory (RssAnon) %d MiB > 64 MiB", r.peakAnon>>20)
		}
		if r.digestLag > 2*time.Second {
			miss("digest current %v after the burst, > 2 s", r.digestLag)
		}
	}
	if len(r.soak) > 2 {
		heap, rss, gor := r.soakSlopes()
		if heap > 512<<10 || rss > 1<<20 || gor > 1 {
			miss("growth: live heap %+.0f KiB/min, private RSS %+.0f KiB/min, goroutines %+.2f/min", heap/1024, rss/1024, gor)
		}
	}
}

// soakSlopes fits a least-squares line through the samples after the first
// fifth (warm-up: buffers, pools and the dedup table fill first) and
// returns bytes per minute for heap and RSS, goroutines per minute.
func (r *Result) soakSlopes() (heap, rss, gor float64) {
	s := r.soak[len(r.soak)/5:]
	fit := func(y func(soakSample) float64) float64 {
		var sx, sy, sxx, sxy float64
		n := float64(len(s))
		for _, p := range s {
			x := p.at.Minutes()
			sx, sy, sxx, sxy = sx+x, sy+y(p), sxx+x*x, sxy+x*y(p)
		}
		d := n*sxx - sx*sx
		if d == 0 {
			return 0
		}
		return (n*sxy - sx*sy) / d
	}
	return fit(func(p soakSample) float64 { return float64(p.heap) }),
		fit(func(p soakSample) float64 { return float64(p.rss) }),
		fit(func(p soakSample) float64 { return float64(p.goroutines) })
}

// Failed reports whether a target was missed (the report says which).
func (r *Result) Failed() bool { return r.failed }

// Print writes the report.
func (r *Result) Print(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	p := func(f string, a ...any) { fmt.Fprintf(bw, f+"\n", a...) }
	o := r.o
	mode := o.Pattern
	if o.Soak > 0 {
		mode = "soak " + o.Soak.String()
	}
	p("liqbox bench — %s, %d ev/s, %d connections, fsync on, one chat", mode, o.Rate, o.Conns)
	p("machine: %d CPUs, %s, %s, load average before %s, after %s", runtime.NumCPU(), r.cpuName, r.goVersion, r.load0, r.load1)
	p("")
	p("frames sent       %d distinct (each to %d connections) in %v: %.0f ev/s", r.sent, o.Conns, r.elapsed.Round(time.Millisecond), float64(r.sent)/r.elapsed.Seconds())
	p("pipeline          %d sequenced; log holds %d, sequence consecutive: %v", r.lastSeq, r.logged, r.seqOK)
	p("ingest            %.0f events decoded over every connection, %.0f decode errors; %.0f copies dropped as duplicates", r.decoded, r.decodeErrs, r.dups)
	p("drops             ring %d, store %.0f, terminal %.0f; slow-reader kicks: %v", r.ringDrops, r.storeDrops, r.termDrops, r.slowKicks)
	p("                  telegram: %.0f alerts folded into the digest at a full queue (counted, not lost), %.0f analyses dropped (alerts inside a digest are not edited)", r.tgFolded, r.tgDrops)
	b := &r.bot
	if o.Pattern == "sparse" {
		p("large             %d liquidations of $%.0f, 1 to 3 s apart, amid the background", r.large, o.LargeUSD)
	}
	p("at the Bot API    receive → sendMessage arriving, %d of %d alerts sent alone: %s", b.seen, b.alerts, quantiles(b.toBot))
	p("                  of which %d waited behind no other message of the chat: %s", len(b.atOnce), quantiles(b.atOnce))
	p("                  the box's part, receive → request handed to the HTTP client: %s", quantiles(b.toClient))
	if len(r.floor) > 0 {
		p("                  the floor, a bare POST from an idle goroutine (net/http, as the bot) to its arrival, %d probes: %s", len(r.floor), quantiles(r.floor))
	}
	p("waited behind     %d alerts behind another message of their chat, %d of them for Telegram's limits (sent in the window: an alert %d, a digest %d, an analysis %d, other %d)",
		b.waited, b.limited, b.waitedAlert, b.waitedDigest, b.waitedAnalysis, b.waitedOther)
	if o.enriched() {
		p("analyses          receive → the edit or reply carrying it arriving, %d of %d alerts: %s", b.analysed, b.alerts,
			quantilesAt(b.toAnn, 50, 95, 99, 100))
		p("                  of that, receive → the analysis made (the rest waits for the chat's budget): %s", quantilesAt(b.toMade, 50, 95, 99, 100))
		p("                  %d edits, %d replies (%d combined), %d made after the edit age, %.0f too old for the chat; LLM answered %d",
			b.edits, b.replies, b.combined, b.late, r.tgTooOld, r.llmAnswered)
	}
	what := "every event"
	if o.Pattern == "sparse" {
		what = "the large ones"
	}
	p("terminal          receive → sink writer formats the line, %s (%d samples): %s", what, len(r.onBox), quantiles(r.onBox))
	if r.mix != nil {
		r.mix.print(p)
	}
	p("telegram          %d requests; %.0f alerts enqueued for the chat, %.0f sent alone, %d digest messages and updates", r.tgMessages, r.tgEnqueued, r.tgSingle, b.digestMsgs)
	if o.Pattern == "burst" && o.Soak == 0 {
		p("digest            last update %v after the burst ended, counting %d liquidations", r.digestLag.Round(time.Millisecond), r.digestCount)
	}
	p("memory            peak RSS %.1f MiB (VmHWM, whole process incl. loopback servers), RSS now %.1f MiB", float64(r.peakRSS)/(1<<20), float64(r.rss)/(1<<20))
	p("                  sampled peaks: private (RssAnon) %.1f MiB, file-backed (RssFile: binary and the log's mmap) %.1f MiB, Go heap in use %.1f MiB",
		float64(r.peakAnon)/(1<<20), float64(r.peakFile)/(1<<20), float64(r.peakHeap)/(1<<20))
	p("cpu               %.2f s user+sys = %.0f%% of one core", r.cpu.Seconds(), 100*r.cpu.Seconds()/r.elapsed.Seconds())
	if len(r.soak) > 0 {
		p("")
		p("soak samples (t, live heap MiB, private RSS MiB, goroutines):")
		for _, s := range r.soak {
			p("  %7s  %6.1f  %6.1f  %d", s.at.Round(time.Second), float64(s.heap)/(1<<20), float64(s.rss)/(1<<20), s.goroutines)
		}
		heap, rss, gor := r.soakSlopes()
		p("trend after warm-up: live heap %+.1f KiB/min, private RSS %+.1f KiB/min, goroutines %+.2f/min; LLM analyses %d", heap/1024, rss/1024, gor, r.llmAnswered)
	}
	for _, n := range r.notes {
		p("%s", n)
	}
	if !r.failed {
		p("all targets met")
	}
}

func quantiles(d []time.Duration) string { return quantilesAt(d, 50, 99, 99.9, 100) }

// quantilesAt writes the qs-th percentiles of d (100 is the max).
func quantilesAt(d []time.Duration, qs ...float64) string {
	if len(d) == 0 {
		return "none"
	}
	var sb strings.Builder
	for i, q := range qs {
		if i > 0 {
			sb.WriteString("  ")
		}
		if q == 100 {
			sb.WriteString("max ")
		} else {
			sb.WriteString("p" + strconv.FormatFloat(q, 'f', -1, 64) + " ")
		}
		sb.WriteString(pct(d, q).Round(time.Microsecond).String())
	}
	return sb.String()
}

// pct returns the q-th percentile (nearest rank) of d.
func pct(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(q/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// CounterSum adds every counter of set named name or name{labels…}: the
// counter objects, looked up by name in the registry, never the /metrics
// text.
func CounterSum(set *metrics.Set, name string) float64 {
	sum := 0.0
	for _, n := range set.ListMetricNames() {
		if n == name || strings.HasPrefix(n, name+"{") {
			sum += float64(set.GetOrCreateCounter(n).Get())
		}
	}
	return sum
}

// procStatus returns a "kB" field of /proc/self/status in bytes, 0 when
// unavailable (not Linux).
func procStatus(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l[len(field)+1:])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

func rusageCPU(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.IndexByte(l, ':'); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return runtime.GOARCH
}
