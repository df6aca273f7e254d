// Package pipeline is the single goroutine between the rings and the
// sinks: it numbers events, drops duplicates from redundant connections and
// hands each event to the sinks in order (the raw alert first).
//
// Nothing here waits on the network or the disk: every sink's Offer must
// return at once, queueing or counting a drop on its own side.
package pipeline

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/latency"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/ring"
)

// Sink receives events from the pipeline goroutine. Offer must not block
// and must not keep the pointer past the call (copy the value).
type Sink interface {
	Offer(ev *event.Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ev *event.Event)

// Offer calls f(ev).
func (f SinkFunc) Offer(ev *event.Event) { f(ev) }

// Options configure a Pipeline. Zero values take the defaults in brackets.
type Options struct {
	Rings []*ring.Ring
	Waker *ring.Waker
	// StartSeq is the last sequence number already used (the store's); the
	// first new event gets StartSeq+1.
	StartSeq uint64
	// DedupWindow is how long an event's identity is remembered [10m].
	DedupWindow time.Duration
	// DedupSlots sizes the dedup table (rounded to a power of two) [65536].
	DedupSlots int
	// Sinks get every new (non-duplicate) event, in this order. Put the
	// alerting sinks first: the raw alert goes out before anything else.
	Sinks []Sink
	// Cross, when a relay runs beside the venues' own feeds, matches its
	// copies to theirs (CrossSource); nil: only exact duplicates exist.
	Cross   *CrossSource
	Metrics *metrics.Set
	Logger  *slog.Logger
}

// Pipeline drains the rings. Create with New, then Run.
type Pipeline struct {
	o     Options
	log   *slog.Logger
	seq   atomic.Uint64
	dedup dedupTable
	m     pipeMetrics
	// cross and srcs exist only with Options.Cross.
	cross *crossTable
	srcs  *sourceMetrics
}

type pipeMetrics struct {
	events, dups *metrics.Counter
	ringWait     *latency.Histogram
	process      *metrics.PrometheusHistogram
	// wins[venue][conn] counts how often a connection delivered an event
	// first while a redundant connection delivered it too; lead is by how
	// much. Created on first use (a cold path: a handful per process).
	wins [256][8]*metrics.Counter
	lead [256][8]*metrics.FloatCounter
}

// New builds a pipeline.
func New(o Options) *Pipeline {
	if o.DedupWindow <= 0 {
		o.DedupWindow = 10 * time.Minute
	}
	if o.DedupSlots <= 0 {
		o.DedupSlots = 1 << 16
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Waker == nil {
		o.Waker = ring.NewWaker()
	}
	p := &Pipeline{o: o, log: o.Logger.With("component", "pipeline")}
	p.seq.Store(o.StartSeq)
	p.dedup.init(o.DedupSlots, o.DedupWindow)
	set := o.Metrics
	p.m.events = metricdoc.Counter(set, `liqbox_pipeline_events_total`, "Distinct events numbered and handed to the sinks.")
	p.m.dups = metricdoc.Counter(set, `liqbox_pipeline_duplicates_total`, "Events dropped as duplicates (dedup hits: redundant connections, reconnect overlaps).")
	p.m.ringWait = latency.New(set, `liqbox_stage_receive_to_pipeline_seconds`,
		"Local receive to the pipeline taking the event off the ring.")
	p.m.process = metricdoc.Histogram(set, `liqbox_pipeline_event_process_seconds`, "Time the pipeline goroutine spends on one event across all sinks.", latency.Buckets)
	metricdoc.Gauge(set, `liqbox_pipeline_last_seq`, "Last sequence number assigned.", func() float64 { return float64(p.seq.Load()) })
	metricdoc.Gauge(set, `liqbox_pipeline_ring_depth`, "Events waiting in all rings together.", func() float64 {
		n := 0
		for _, r := range o.Rings {
			n += r.Len()
		}
		return float64(n)
	})
	// The redundancy counters are created on the first win of each
	// connection (win).
	metricdoc.Describe(set, `liqbox_redundancy_wins_total`, "Times a connection delivered an event first while a redundant one delivered it too.")
	metricdoc.Describe(set, `liqbox_redundancy_lead_seconds_total`, "Total lead of the winning connection over the redundant one.")
	if o.Cross != nil {
		p.cross = newCrossTable(o.Cross)
		p.srcs = newSourceMetrics(set, o.Cross.Venues)
	}
	return p
}

// Stages are the pipeline's stage histograms (receive → pipeline), for
// the status page's percentiles.
func (p *Pipeline) Stages() []*latency.Histogram { return []*latency.Histogram{p.m.ringWait} }

// LastSeq is the last sequence number assigned.
func (p *Pipeline) LastSeq() uint64 { return p.seq.Load() }

// SeedDedup remembers an event identity seen before a restart, so that the
// same liquidation arriving again is not alerted twice. Call before Run.
func (p *Pipeline) SeedDedup(key uint64, seenNs int64) {
	p.dedup.insert(key, seenNs, event.ConnRemote)
}

// Run drains the rings until ctx is cancelled, then drains what is left
// and returns nil.
func (p *Pipeline) Run(ctx context.Context) error {
	done := ctx.Done()
	for {
		n := p.drainOnce()
		if n > 0 {
			continue
		}
		select {
		case <-done:
			p.drainOnce()
			return nil
		default:
		}
		p.o.Waker.Wait(done, p.o.Rings...)
	}
}

// drainOnce processes what is waiting in every ring, in place.
func (p *Pipeline) drainOnce() int {
	total := 0
	for _, r := range p.o.Rings {
		for {
			evs := r.Peek()
			if len(evs) == 0 {
				break
			}
			for i := range evs {
				p.process(&evs[i])
			}
			r.Advance(len(evs))
			total += len(evs)
		}
	}
	return total
}

func (p *Pipeline) process(ev *event.Event) {
	start := time.Now().UnixNano()
	if ev.Flags&event.FlagRemote == 0 {
		// A remote event's receive time is its edge box's: its wait would
		// be the bus's transit, not this ring's.
		p.m.ringWait.Update(float64(start-ev.RecvNs) / 1e9)
	}
	key := ev.Key()
	if first, conn, dup := p.dedup.seen(key, ev.RecvNs); dup {
		p.m.dups.Inc()
		if conn != ev.Conn && conn < 8 && ev.Conn < 8 {
			p.win(ev.Venue, conn, float64(ev.RecvNs-first)/1e9)
		}
		// A relay copy with the venue's very fields is a race all the
		// same (255 is a key seeded from the log: no race).
		if p.srcs != nil && conn != 255 && event.SourceOf(conn) != ev.Source() {
			p.srcs.observe(ev.Venue, event.SourceOf(conn), ev.RecvNs-first, 0)
		}
		return
	}
	p.dedup.insert(key, ev.RecvNs, ev.Conn)
	if p.cross != nil {
		// The other source's copy of a liquidation already handed on is
		// a duplicate too; its exact key is remembered above, so a
		// repeat of this copy is caught before it gets here.
		if firstNs, first, d, ok := p.cross.match(ev); ok {
			p.m.dups.Inc()
			p.srcs.observe(ev.Venue, first, ev.RecvNs-firstNs, d)
			return
		}
		p.cross.remember(ev)
	}
	ev.Seq = p.seq.Add(1)
	p.m.events.Inc()
	for _, s := range p.o.Sinks {
		s.Offer(ev)
	}
	p.m.process.Update(float64(time.Now().UnixNano()-start) / 1e9)
}

func (p *Pipeline) win(v event.Venue, conn uint8, lead float64) {
	c := p.m.wins[v][conn]
	if c == nil {
		lbl := `{venue="` + v.String() + `",conn="` + strconv.Itoa(int(conn)) + `"}`
		c = p.o.Metrics.GetOrCreateCounter(`liqbox_redundancy_wins_total` + lbl)
		p.m.wins[v][conn] = c
		p.m.lead[v][conn] = p.o.Metrics.GetOrCreateFloatCounter(`liqbox_redundancy_lead_seconds_total` + lbl)
	}
	c.Inc()
	if lead > 0 {
		p.m.lead[v][conn].Add(lead)
	}
}

// dedupTable is a fixed-size open-addressing set of event keys with the
// time each was first seen. It never allocates after init: when a probe
// run is full, the oldest entry in it is overwritten, which can only forget
// an identity early, never invent a duplicate.
type dedupTable struct {
	mask     uint64
	windowNs int64
	slots    []dedupSlot
}

type dedupSlot struct {
	key    uint64
	seenNs int64
	conn   uint8
}

const dedupProbe = 16

func (t *dedupTable) init(n int, window time.Duration) {
	size := uint64(dedupProbe)
	for size < uint64(n) {
		size <<= 1
	}
	t.mask = size - 1
	t.windowNs = int64(window)
	t.slots = make([]dedupSlot, size)
}

// seen reports whether key was inserted within the window before nowNs,
// with the first sighting's time and connection.
func (t *dedupTable) seen(key uint64, nowNs int64) (firstNs int64, conn uint8, ok bool) {
	i := key & t.mask
	for j := uint64(0); j < dedupProbe; j++ {
		s := &t.slots[(i+j)&t.mask]
		if s.key == key {
			if nowNs-s.seenNs <= t.windowNs {
				return s.seenNs, s.conn, true
			}
			return 0, 0, false
		}
		if s.key == 0 {
			return 0, 0, false
		}
	}
	return 0, 0, false
}

func (t *dedupTable) insert(key uint64, nowNs int64, conn uint8) {
	i := key & t.mask
	victim := &t.slots[i]
	for j := uint64(0); j < dedupProbe; j++ {
		s := &t.slots[(i+j)&t.mask]
		if s.key == 0 || s.key == key || nowNs-s.seenNs > t.windowNs {
			victim = s
			break
		}
		if s.seenNs < victim.seenNs {
			victim = s
		}
	}
	*victim = dedupSlot{key: key, seenNs: nowNs, conn: conn}
}
