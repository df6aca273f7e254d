// Package cascade fires the chats' cascade rules: "alert when $10M of BTC
// positions are liquidated within any 5 minutes, on every venue". It keeps
// sliding-window sums per asset (package asset maps every venue's
// instruments) and side, updated on the pipeline's path with a bounded
// amount of work per event and no allocation (window.go), fires a rule
// the moment its window crosses the threshold, keeps each cascade's
// running breakdown (by venue, the largest liquidations, since when), and
// closes it when the window has stayed below the threshold for the rule's
// quiet period, re-arming the rule. The same engine runs live (the
// pipeline's sink) and over the log (`liqbox backtest --cascade`,
// `liqbox replay`): one mechanism for both.
//
// Ownership: New builds an Engine. Offer (the pipeline's sink) and Advance
// may be called from any goroutine; Run calls Advance once a second until
// its context ends, so cascades close when their asset goes quiet. One
// mutex guards the state: Offer holds it for the few hundred nanoseconds
// of its work, Advance for the open cascades' checks, SetRules while it
// rebuilds. The Sink is called with the mutex held and must not call the
// engine back.
package cascade

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/asset"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/metricdoc"
)

// Sink is told about each cascade: when it opens (on the goroutine that
// offered the liquidation that crossed the threshold, the pipeline's),
// as it changes (from Advance, at most once a tick), and when it closes.
// The snapshot is valid only during the call: copy it. A Sink must return
// at once and must not call the Engine.
type Sink interface {
	Opened(s *Snapshot)
	Updated(s *Snapshot)
	Closed(s *Snapshot)
}

// Options configure an Engine. Zero values take the defaults in brackets.
type Options struct {
	Sink Sink // required
	// Tick is how often Run (and Advance, in the log's time) checks the
	// open cascades: their window totals decay without new liquidations
	// [1 s].
	Tick time.Duration
	// MaxSymbols bounds the cache of symbol → asset [16384]; beyond it a
	// symbol is mapped on every event (no allocation, slower), counted.
	MaxSymbols int
	Metrics    *metrics.Set
	Logger     *slog.Logger
}

// Engine is the rule engine. Create with New.
type Engine struct {
	o   Options
	log *slog.Logger
	m   engineMetrics

	mu       sync.Mutex // guards everything below
	owners   map[int64][]Rule
	rules    []*ruleState
	tracks   map[asset.Name]*track // by asset, the market excluded
	all      *track                // the market-wide rules, nil if none
	rings    map[ringKey]*ring
	syms     map[symKey]*track // symbol → its asset's track, nil when untracked
	nextID   uint64
	nextTick int64 // Advance runs the checks no earlier than this
	lastNs   int64 // the latest time the engine has seen
	seeding  bool  // Seed is running: nothing is told to the Sink

	open     atomic.Int64
	ruleN    atomic.Int64
	seededAt atomic.Int64
}

type engineMetrics struct {
	fired, closed, late, uncached, offered *metrics.Counter
}

// track is one asset's rules and rings.
type track struct {
	rules []*ruleState
	rings [3][]*ring // by event.Side: one per window length the rules use
}

type ringKey struct {
	asset  asset.Name
	all    bool
	side   event.Side
	window time.Duration
}

type symKey struct {
	venue event.Venue
	sym   event.Symbol
}

// ruleState is one owner's rule and its cascade, if one is open.
type ruleState struct {
	owner     int64
	rule      Rule
	threshold int64    // cents
	width     int64    // its rings' bucket length, ns
	rings     [3]*ring // by side; nil for a side the rule does not watch
	open      *openCascade
	checkedNs int64 // when Advance last checked the open cascade
}

type openCascade struct {
	snap      Snapshot
	b         breakdown // everything since StartNs
	published uint64    // the Version last handed to the Sink
}

// New builds an Engine with no rules.
func New(o Options) *Engine {
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.MaxSymbols <= 0 {
		o.MaxSymbols = 16384
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{o: o, log: o.Logger, owners: map[int64][]Rule{}, tracks: map[asset.Name]*track{},
		rings: map[ringKey]*ring{}, syms: map[symKey]*track{}}
	s := o.Metrics
	e.m = engineMetrics{
		offered:  metricdoc.Counter(s, `liqbox_cascade_events_total`, "Liquidations the cascade rules saw (none while no chat has a rule)."),
		fired:    metricdoc.Counter(s, `liqbox_cascade_fired_total`, "Cascades opened: a chat's rule crossed its threshold."),
		closed:   metricdoc.Counter(s, `liqbox_cascade_closed_total`, "Cascades closed (their window stayed below the threshold for the quiet period, or the rule was removed)."),
		late:     metricdoc.Counter(s, `liqbox_cascade_late_events_total`, "Liquidations older than a rule's window when they arrived (a clock step back): in no window sum."),
		uncached: metricdoc.Counter(s, `liqbox_cascade_symbols_uncached_total`, "Liquidations whose symbol was mapped to its asset without the cache (the cache is full)."),
	}
	metricdoc.Gauge(s, `liqbox_cascade_open`, "Cascades open now, all chats together.", func() float64 { return float64(e.open.Load()) })
	metricdoc.Gauge(s, `liqbox_cascade_rules`, "Cascade rules in force, all chats together.", func() float64 { return float64(e.ruleN.Load()) })
	return e
}

// SetRules replaces owner's rules (nil removes them). A rule kept keeps
// its state (an open cascade goes on); a removed rule's open cascade is
// closed, marked Removed. A new rule counts from now, except that it
// shares the window of another rule on the same asset, side and length.
func (e *Engine) SetRules(owner int64, rules []Rule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(rules) == 0 {
		delete(e.owners, owner)
	} else {
		e.owners[owner] = append([]Rule(nil), rules...)
	}
	keep := e.rules[:0:0]
	have := map[Rule]bool{}
	for _, rs := range e.rules {
		if rs.owner != owner {
			keep = append(keep, rs)
			continue
		}
		if !contains(rules, rs.rule) {
			if rs.open != nil {
				oc := rs.open
				oc.snap.State, oc.snap.Removed, oc.snap.EndNs = Closed, true, e.lastNs
				oc.snap.Version++
				e.closeLocked(rs)
			}
			continue
		}
		have[rs.rule] = true
		keep = append(keep, rs)
	}
	for _, r := range rules {
		if have[r] {
			continue
		}
		have[r] = true
		keep = append(keep, &ruleState{owner: owner, rule: r, threshold: cents(r.USD), width: int64(r.Window) / Buckets})
	}
	e.rules = keep
	e.rebuildLocked()
}

func contains(rules []Rule, r Rule) bool {
	for _, x := range rules {
		if x == r {
			return true
		}
	}
	return false
}

// Rules returns owner's rules as set.
func (e *Engine) Rules(owner int64) []Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Rule(nil), e.owners[owner]...)
}

// Open returns owner's open cascades as they stand, oldest first.
func (e *Engine) Open(owner int64) []Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Snapshot
	for _, rs := range e.rules {
		if rs.owner == owner && rs.open != nil {
			rs.open.snap.fill(&rs.open.b)
			out = append(out, rs.open.snap)
		}
	}
	slices.SortFunc(out, func(a, b Snapshot) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// MaxWindow is the longest window of any rule (0 without rules): how far
// back Seed must read.
func (e *Engine) MaxWindow() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var w time.Duration
	for _, rs := range e.rules {
		w = max(w, rs.rule.Window)
	}
	return w
}

// rebuildLocked derives the tracks and rings from e.rules, keeping the
// rings still in use.
func (e *Engine) rebuildLocked() {
	rings := make(map[ringKey]*ring, len(e.rings))
	e.tracks = map[asset.Name]*track{}
	e.all = nil
	for _, rs := range e.rules {
		t := e.all
		if rs.rule.All() {
			if t == nil {
				t = &track{}
				e.all = t
			}
		} else if t = e.tracks[rs.rule.Asset]; t == nil {
			t = &track{}
			e.tracks[rs.rule.Asset] = t
		}
		t.rules = append(t.rules, rs)
		for _, side := range [...]event.Side{event.Long, event.Short} {
			rs.rings[side] = nil
			if !rs.rule.Sides.Has(side) {
				continue
			}
			k := ringKey{asset: rs.rule.Asset, all: rs.rule.All(), side: side, window: rs.rule.Window}
			r := rings[k]
			if r == nil {
				if r = e.rings[k]; r == nil {
					r = newRing(int64(rs.rule.Window))
				}
				rings[k] = r
				t.rings[side] = append(t.rings[side], r)
			}
			rs.rings[side] = r
		}
	}
	e.rings = rings
	clear(e.syms)
	e.ruleN.Store(int64(len(e.rules)))
}

// Offer feeds one liquidation: the pipeline's sink. It never blocks on
// I/O and does not allocate once the symbol has been seen. Liquidations a
// venue replayed from before the subscription are not news and are left
// out; so are those of unknown side. One of unknown size counts in the
// cascades' tallies but in no total.
func (e *Engine) Offer(ev *event.Event) {
	if ev.Flags&event.FlagBacklog != 0 || (ev.Side != event.Long && ev.Side != event.Short) {
		return
	}
	if e.ruleN.Load() == 0 {
		return // no chat has a rule: not even the lock
	}
	var c int64
	if ev.NotionalKnown() {
		if c = cents(ev.Notional); c == 0 {
			return // a zero-size print: nothing to add
		}
	}
	e.mu.Lock()
	e.offerLocked(ev, c)
	e.mu.Unlock()
}

func (e *Engine) offerLocked(ev *event.Event, c int64) {
	if len(e.rules) == 0 {
		return
	}
	e.m.offered.Inc()
	if ev.RecvNs > e.lastNs {
		e.lastNs = ev.RecvNs
	}
	if t := e.trackOf(ev); t != nil {
		e.feed(t, ev, c)
	}
	if e.all != nil {
		e.feed(e.all, ev, c)
	}
}

// trackOf returns the track of ev's asset, nil if no rule watches it.
func (e *Engine) trackOf(ev *event.Event) *track {
	if len(e.tracks) == 0 {
		return nil
	}
	k := symKey{venue: ev.Venue, sym: ev.Symbol}
	if t, ok := e.syms[k]; ok {
		return t
	}
	t := e.tracks[asset.Of(ev.Venue, ev.Symbol.Bytes())]
	if len(e.syms) < e.o.MaxSymbols {
		e.syms[k] = t
	} else {
		e.m.uncached.Inc()
	}
	return t
}

func (e *Engine) feed(t *track, ev *event.Event, c int64) {
	for _, r := range t.rings[ev.Side] {
		if !r.add(ev, c) {
			e.m.late.Inc()
		}
	}
	for _, rs := range t.rules {
		if rs.rings[ev.Side] == nil {
			continue
		}
		now := ev.RecvNs
		if oc := rs.open; oc != nil {
			oc.b.add(ev, c) // the snapshot's totals are filled in when it is handed on
			s := &oc.snap
			if now > s.LastNs {
				s.LastNs = now
			}
			s.WindowCents = rs.sum(now)
			s.PeakCents = max(s.PeakCents, s.WindowCents)
			if s.State == Fading && s.WindowCents >= rs.threshold {
				s.State, s.BelowNs = Open, 0
			}
			s.Version++
			continue
		}
		if c == 0 {
			continue // an unknown size crosses nothing
		}
		if sum := rs.sum(now); sum >= rs.threshold {
			e.fire(rs, ev, sum)
		}
	}
}

// sum is the rule's window total in cents at now, over its sides.
func (rs *ruleState) sum(now int64) int64 {
	var s int64
	for _, r := range rs.rings {
		if r != nil {
			s += r.sum(now)
		}
	}
	return s
}

// fire opens a cascade: its breakdown is the window's content now.
func (e *Engine) fire(rs *ruleState, ev *event.Event, sum int64) {
	e.nextID++
	oc := &openCascade{}
	now := ev.RecvNs
	var first int64
	for _, r := range rs.rings {
		if r == nil {
			continue
		}
		if f := r.content(now, &oc.b); f != 0 && (first == 0 || f < first) {
			first = f
		}
	}
	s := &oc.snap
	*s = Snapshot{ID: e.nextID, Owner: rs.owner, Rule: rs.rule, State: Open, StartNs: first, FiredNs: now,
		FiredSeq: ev.Seq, LastNs: now, WindowCents: sum, PeakCents: sum, Version: 1}
	s.fill(&oc.b)
	rs.open = oc
	rs.checkedNs = now
	e.open.Add(1)
	e.m.fired.Inc()
	if e.seeding {
		return
	}
	e.publish(oc, e.o.Sink.Opened)
}

// publish hands oc's snapshot, brought up to date, to a Sink method.
func (e *Engine) publish(oc *openCascade, to func(*Snapshot)) {
	oc.snap.fill(&oc.b)
	oc.published = oc.snap.Version
	to(&oc.snap)
}

// Advance moves the engine's clock to nowNs and, once a tick has passed
// since the last check, checks the open cascades: a window that has fallen
// below its threshold makes its cascade fade, and one that stayed below
// for the quiet period closes it (the rule is armed again). Changed
// cascades are handed to Sink.Updated. The command line calls it with
// each logged event's time, Run with the clock's.
func (e *Engine) Advance(nowNs int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advanceLocked(nowNs)
}

func (e *Engine) advanceLocked(nowNs int64) {
	if nowNs > e.lastNs {
		e.lastNs = nowNs
	}
	if nowNs < e.nextTick {
		return
	}
	e.nextTick = nowNs + int64(e.o.Tick)
	for _, rs := range e.rules {
		oc := rs.open
		if oc == nil {
			continue
		}
		s := &oc.snap
		if s.BelowNs == 0 {
			if at := rs.fellBelow(nowNs); at != 0 {
				s.State, s.BelowNs = Fading, at
				s.Version++
			}
		}
		rs.checkedNs = nowNs
		s.WindowCents = rs.sum(nowNs)
		if s.BelowNs != 0 && nowNs-s.BelowNs >= int64(rs.rule.Quiet()) {
			s.State, s.EndNs = Closed, s.BelowNs+int64(rs.rule.Quiet())
			s.Version++
			e.closeLocked(rs)
			continue
		}
		if s.Version != oc.published && !e.seeding {
			e.publish(oc, e.o.Sink.Updated)
		}
	}
}

// fellBelow returns when, since the last check and up to nowNs, the rule's
// window total fell below its threshold, or 0 if it did not. Without new
// liquidations a total only falls, one bucket at a time, so the first
// bucket boundary at which it is below is the moment: exact in the log's
// time, where checks come only with events, as in the clock's. At most
// Buckets+1 steps.
func (rs *ruleState) fellBelow(nowNs int64) int64 {
	for t := (rs.checkedNs/rs.width + 1) * rs.width; ; t += rs.width {
		if t > nowNs {
			t = nowNs
		}
		var sum int64
		for _, r := range rs.rings {
			if r != nil {
				sum += r.sumAt(t)
			}
		}
		if sum < rs.threshold {
			return max(t, rs.checkedNs)
		}
		if t >= nowNs {
			return 0
		}
	}
}

// closeLocked ends rs's cascade and arms the rule again.
func (e *Engine) closeLocked(rs *ruleState) {
	oc := rs.open
	rs.open = nil
	e.open.Add(-1)
	e.m.closed.Inc()
	if !e.seeding {
		e.publish(oc, e.o.Sink.Closed)
	}
}

// Run checks the open cascades every Options.Tick until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			e.Advance(now.UnixNano())
		}
	}
}

// Seed rebuilds the windows from the log before the pipeline starts, so
// that a restart neither forgets a pile-up in progress nor alerts a
// cascade its chats were told about already: scan hands it the logged
// events in order (the store's Scan over the last MaxWindow, or longer to
// reach back to an open cascade's start). Nothing is told to the Sink
// while it reads; then every cascade still open at nowNs is handed to
// Sink.Opened marked Resumed, and its chat decides whether it has the
// message already. scan must not call the engine (Seed holds its lock). It
// returns the number of events read.
func (e *Engine) Seed(scan func(fn func(*event.Event) error) error, nowNs int64) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seeding = true
	n := 0
	err := scan(func(ev *event.Event) error {
		n++
		if ev.Flags&event.FlagBacklog != 0 || (ev.Side != event.Long && ev.Side != event.Short) {
			return nil
		}
		var c int64
		if ev.NotionalKnown() {
			if c = cents(ev.Notional); c == 0 {
				return nil
			}
		}
		e.advanceLocked(ev.RecvNs)
		e.offerLocked(ev, c)
		return nil
	})
	e.nextTick = 0
	e.advanceLocked(nowNs)
	e.seeding = false
	e.seededAt.Store(nowNs)
	for _, rs := range e.rules {
		if oc := rs.open; oc != nil {
			oc.snap.Resumed = true
			e.publish(oc, e.o.Sink.Opened)
		}
	}
	return n, err
}

// Finish closes every open cascade at nowNs, as the end of a log replay
// does: Sink.Closed gets each with its state as it stands (Open or
// Fading), so a report can tell a cascade still going at the end.
func (e *Engine) Finish(nowNs int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextTick = 0
	e.advanceLocked(nowNs)
	for _, rs := range e.rules {
		if rs.open != nil {
			rs.open.snap.EndNs = nowNs
			e.closeLocked(rs)
		}
	}
}
