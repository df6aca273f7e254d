package bus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/latency"
	"github.com/liqbox/liqbox/logthrottle"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/store"
)

// Log is what the publisher reads and acknowledges: the store.
type Log interface {
	ReadAfter(after uint64, dst []event.Event) ([]event.Event, uint64, error)
	Committed() <-chan struct{}
	Durable() uint64
	SeqSince(t time.Time) (uint64, error)
	LookupCheckpoint(sink string) (uint64, bool)
	Ack(sink string, seq uint64)
	Gaps(since time.Time) ([]store.Gap, error)
}

// Publisher publishes what the log commits. Create with NewPublisher, then
// Run.
type Publisher struct {
	c   *Conn
	cfg Config
	log Log
	lg  *slog.Logger
	red *Redactor

	subj [256]string // events subject per venue

	// Owned by Run.
	win      []pending // the publishes in flight, oldest first (a ring of len cap)
	wh, wn   int       // head and length of win
	batch    []event.Event
	bi       int    // next event of batch to publish
	bLast    uint64 // last sequence number the read that filled batch looked at
	next     uint64 // last sequence number read: the next read is after it
	gapCP    int64  // every closed gap that ended before this (Unix ns) is published
	gapsSent map[string]int64
	lastGaps time.Time
	failLog  logthrottle.Throttle

	acked    atomic.Uint64 // the checkpoint: every event up to it is acknowledged
	inflight atomic.Int64
	started  atomic.Bool

	mu      sync.Mutex // guards lastErr
	lastErr string

	m pubMetrics
}

type pending struct {
	seq uint64
	at  time.Time
	fut jetstream.PubAckFuture
}

type pubMetrics struct {
	events, gaps, dups, errs *metrics.Counter
	ack                      *latency.Histogram
}

// readChunk is how many committed events one read of the log takes.
const readChunk = 256

// gapEvery is how often the publisher looks for new or changed gaps.
const gapEvery = 2 * time.Second

// NewPublisher prepares a publisher of log on c.
func NewPublisher(c *Conn, log Log, lg *slog.Logger) *Publisher {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	cfg := c.Config()
	p := &Publisher{c: c, cfg: cfg, log: log, lg: lg.With("url", c.red.URL(), "stream", cfg.Stream),
		red: c.red, win: make([]pending, cfg.MaxInFlight), batch: make([]event.Event, 0, readChunk),
		gapsSent: map[string]int64{}}
	p.failLog.Every = 10 * time.Second
	for _, v := range event.Venues() {
		p.subj[v] = cfg.EventsSubject(v.String())
	}
	set := c.set
	p.m = pubMetrics{
		events: metricdoc.Counter(set, `liqbox_bus_published_total{kind="event"}`, "Messages JetStream acknowledged, by kind (event, gap)."),
		gaps:   metricdoc.Counter(set, `liqbox_bus_published_total{kind="gap"}`, "Messages JetStream acknowledged, by kind (event, gap)."),
		dups:   metricdoc.Counter(set, `liqbox_bus_publish_duplicates_total`, "Published events JetStream already had (a retry within its duplicate window): stored once."),
		errs:   metricdoc.Counter(set, `liqbox_bus_publish_errors_total`, "Publishing sessions ended by an error (the bus lost, no acknowledgement); publishing resumes from the checkpoint."),
		ack: latency.New(set, `liqbox_bus_publish_ack_seconds`,
			"An event's publish to the bus until JetStream acknowledged it stored."),
	}
	metricdoc.Gauge(set, `liqbox_bus_publish_inflight`, "Events published and awaiting JetStream's acknowledgement.", func() float64 { return float64(p.inflight.Load()) })
	metricdoc.Gauge(set, `liqbox_bus_publish_lag_events`, "Events the log committed that JetStream has not yet acknowledged.", func() float64 { return float64(p.lagEvents()) })
	metricdoc.Gauge(set, `liqbox_bus_publish_lag_seconds`, "Age of the oldest committed event JetStream has not yet acknowledged (0 when none).", func() float64 { return p.lagSeconds(time.Now()).Seconds() })
	return p
}

// Run publishes until ctx ends. It returns only errors reading the log at
// start; bus failures are retried with backoff for as long as it runs.
func (p *Publisher) Run(ctx context.Context) error {
	if err := p.start(time.Now()); err != nil {
		return err
	}
	backoff := time.Duration(0)
	for {
		js, err := p.c.WaitUp(ctx)
		if err != nil {
			return nil
		}
		t0 := time.Now()
		if _, err = p.c.EnsureStream(ctx, js); err == nil {
			err = p.session(ctx, js)
		}
		p.resetWindow()
		if ctx.Err() != nil {
			return nil
		}
		p.failed(err)
		if time.Since(t0) > 10*time.Second {
			backoff = 0
		}
		backoff = min(max(2*backoff, 250*time.Millisecond), 5*time.Second)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// start reads the checkpoints. A publisher without one starts with the
// events and gaps of the last FirstAge, the rule of every sink after a
// restart, and records that starting point at once.
func (p *Publisher) start(now time.Time) error {
	cp, ok := p.log.LookupCheckpoint(p.cfg.Sink())
	if !ok {
		first, err := p.log.SeqSince(now.Add(-p.cfg.FirstAge))
		if err != nil {
			return fmt.Errorf("cannot start publishing: %w", err)
		}
		cp = first - 1
		p.log.Ack(p.cfg.Sink(), cp)
		p.lg.Info("publishing to the bus for the first time", "from_seq", first, "young", p.cfg.FirstAge.String())
	}
	p.acked.Store(cp)
	p.next = cp
	if g, ok := p.log.LookupCheckpoint(p.cfg.gapSink()); ok {
		p.gapCP = int64(g)
	} else {
		p.gapCP = now.Add(-p.cfg.FirstAge).UnixNano()
		p.log.Ack(p.cfg.gapSink(), uint64(p.gapCP))
	}
	p.started.Store(true)
	return nil
}

// session publishes while the bus answers; it returns the error that
// ended it, or nil when ctx ended.
func (p *Publisher) session(ctx context.Context, js jetstream.JetStream) error {
	down := p.c.Changed()
	if !p.c.Connected() {
		return errors.New("the bus went down")
	}
	// Everything after the checkpoint goes again: what was in flight may
	// not have been stored (JetStream drops the copies that were).
	p.next = p.acked.Load()
	p.batch, p.bi, p.bLast = p.batch[:0], 0, p.next
	gaps := time.NewTicker(gapEvery)
	defer gaps.Stop()
	if err := p.publishGaps(ctx, js, time.Now()); err != nil {
		return err
	}
	for {
		if err := p.reap(); err != nil {
			return err
		}
		commit := p.log.Committed()
		caughtUp, err := p.fill(js)
		if err != nil {
			return err
		}
		var okc <-chan *jetstream.PubAck
		var errc <-chan error
		if p.wn > 0 {
			f := p.win[p.wh].fut
			okc, errc = f.Ok(), f.Err()
		}
		var commitc <-chan struct{}
		if caughtUp && p.wn < len(p.win) {
			commitc = commit
		}
		select {
		case <-ctx.Done():
			return nil
		case <-down:
			return errors.New("the bus went down")
		case a := <-okc:
			p.acknowledged(a)
		case err := <-errc:
			return fmt.Errorf("no acknowledgement for event %d: %w", p.win[p.wh].seq, err)
		case <-commitc:
		case now := <-gaps.C:
			if err := p.publishGaps(ctx, js, now); err != nil {
				return err
			}
		}
	}
}

// fill publishes committed events until the window is full or the log is
// read to its end (caughtUp).
func (p *Publisher) fill(js jetstream.JetStream) (caughtUp bool, err error) {
	for p.wn < len(p.win) {
		if p.bi == len(p.batch) {
			p.next = max(p.next, p.bLast)
			p.batch, p.bLast, err = p.log.ReadAfter(p.next, p.batch[:0])
			p.bi = 0
			if err != nil {
				return false, err
			}
			if len(p.batch) == 0 {
				p.next = p.bLast
				if p.wn == 0 && p.next > p.acked.Load() {
					// Only events this box took from the bus (or records
					// that do not decode) were read since: nothing to wait for.
					p.acked.Store(p.next)
					p.log.Ack(p.cfg.Sink(), p.next)
				}
				return true, nil
			}
		}
		ev := &p.batch[p.bi]
		p.bi++
		p.next = ev.Seq
		if ev.Flags&event.FlagRemote != 0 {
			continue // another box published it
		}
		if err := p.publish(js, ev); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (p *Publisher) publish(js jetstream.JetStream, ev *event.Event) error {
	// A fresh buffer per message: the future keeps the message for
	// JetStream's own retry, so it must not be reused while one may run.
	m := &nats.Msg{Subject: p.subj[ev.Venue], Data: AppendEvent(make([]byte, 0, 400), p.cfg.BoxName, ev)}
	f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(EventMsgID(p.cfg.BoxName, ev)))
	if err != nil {
		return fmt.Errorf("cannot publish event %d: %w", ev.Seq, err)
	}
	i := p.wh + p.wn
	if i >= len(p.win) {
		i -= len(p.win)
	}
	p.win[i] = pending{seq: ev.Seq, at: time.Now(), fut: f}
	p.wn++
	p.inflight.Store(int64(p.wn))
	return nil
}

// reap takes every acknowledgement that has arrived, in order, without
// waiting; the first error ends the session.
func (p *Publisher) reap() error {
	for p.wn > 0 {
		f := p.win[p.wh].fut
		select {
		case a := <-f.Ok():
			p.acknowledged(a)
		case err := <-f.Err():
			return fmt.Errorf("no acknowledgement for event %d: %w", p.win[p.wh].seq, err)
		default:
			return nil
		}
	}
	return nil
}

// acknowledged moves the checkpoint over the oldest publish in flight.
func (p *Publisher) acknowledged(a *jetstream.PubAck) {
	e := &p.win[p.wh]
	p.m.ack.Update(time.Since(e.at).Seconds())
	p.m.events.Inc()
	if a != nil && a.Duplicate {
		p.m.dups.Inc()
	}
	p.acked.Store(e.seq)
	p.log.Ack(p.cfg.Sink(), e.seq)
	*e = pending{}
	if p.wh++; p.wh == len(p.win) {
		p.wh = 0
	}
	p.wn--
	p.inflight.Store(int64(p.wn))
}

// resetWindow forgets the publishes in flight: the next session publishes
// again from the checkpoint, and JetStream's de-duplication drops the ones
// it already stored.
func (p *Publisher) resetWindow() {
	for p.wn > 0 {
		p.win[p.wh] = pending{}
		if p.wh++; p.wh == len(p.win) {
			p.wh = 0
		}
		p.wn--
	}
	p.wh = 0
	p.inflight.Store(0)
}

func (p *Publisher) failed(err error) {
	if err == nil {
		err = errors.New("the session ended")
	}
	p.m.errs.Inc()
	msg := p.red.Text(err.Error())
	p.mu.Lock()
	p.lastErr = msg
	p.mu.Unlock()
	if n, ok := p.failLog.Allow(time.Now()); ok {
		p.lg.Warn("cannot publish to the bus; the log keeps the events and publishing resumes from its checkpoint",
			"err", msg, "checkpoint", p.acked.Load(), "repeats", n)
	}
}

// publishGaps publishes the ledger's gaps that are new or changed since the
// last pass (an open gap, then the same gap closed), synchronously: there
// are a few a day. Gaps of remote streams (a box that also consumes) are
// not sent back.
func (p *Publisher) publishGaps(ctx context.Context, js jetstream.JetStream, now time.Time) error {
	gaps, err := p.log.Gaps(time.Unix(0, p.gapCP))
	if err != nil {
		return err
	}
	for _, g := range gaps {
		if IsRemoteStream(g.Stream) {
			continue
		}
		id := GapMsgID(p.cfg.BoxName, g)
		if _, ok := p.gapsSent[id]; ok {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.PublishMsg(pctx, &nats.Msg{Subject: p.cfg.GapsSubject(g.Venue), Data: AppendGap(nil, p.cfg.BoxName, g)},
			jetstream.WithMsgID(id))
		cancel()
		if err != nil {
			return fmt.Errorf("cannot publish a gap of %s %s: %w", g.Venue, g.Stream, err)
		}
		p.m.gaps.Inc()
		var end int64
		if !g.IsOpen() {
			end = g.End.UnixNano()
		}
		p.gapsSent[id] = end
	}
	// A gap is in the ledger within a second or two of its end: whatever
	// ended more than this margin ago has been seen.
	if cut := now.Add(-10 * time.Second).UnixNano(); cut > p.gapCP {
		p.gapCP = cut
		p.log.Ack(p.cfg.gapSink(), uint64(cut))
	}
	for id, end := range p.gapsSent {
		if end != 0 && end < p.gapCP-int64(time.Minute) {
			delete(p.gapsSent, id)
		}
	}
	return nil
}

// EventMsgID is an event's JetStream message id: the publishing box and
// the event's identity (event.Event.Key, the pipeline's dedup key), so the
// same event published again by the same box is stored once within the
// duplicate window, while the copies two boxes publish both reach the
// consumer (which tells from them that each box is alive).
func EventMsgID(box string, ev *event.Event) string {
	b := make([]byte, 0, len(box)+24)
	b = append(b, box...)
	b = append(b, ".e."...)
	b = strconv.AppendUint(b, ev.Key(), 16)
	return string(b)
}

// GapMsgID is a gap's message id: the box, and a hash of the gap's stream,
// start and end (zero while open), so the opening and the closing of a gap
// are two messages and each is stored once.
func GapMsgID(box string, g store.Gap) string {
	h := fnv.New64a()
	h.Write([]byte(g.Venue))
	h.Write([]byte{0})
	h.Write([]byte(g.Stream))
	var b [16]byte
	putInt(b[:8], g.Start.UnixNano())
	if !g.IsOpen() {
		putInt(b[8:], g.End.UnixNano())
	}
	h.Write(b[:])
	return box + ".g." + strconv.FormatUint(h.Sum64(), 16)
}

func putInt(b []byte, v int64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

func (p *Publisher) lagEvents() uint64 {
	d, a := p.log.Durable(), p.acked.Load()
	if !p.started.Load() || d <= a {
		return 0
	}
	return d - a
}

// lagSeconds is the age of the oldest committed event not yet acknowledged
// by JetStream, 0 when everything is.
func (p *Publisher) lagSeconds(now time.Time) time.Duration {
	if p.lagEvents() == 0 {
		return 0
	}
	var one [1]event.Event
	evs, _, err := p.log.ReadAfter(p.acked.Load(), one[:0])
	if err != nil || len(evs) == 0 {
		return 0
	}
	return max(now.Sub(time.Unix(0, evs[0].RecvNs)), 0)
}

// PublishStatus is the publisher's state for /status and the page.
type PublishStatus struct {
	Checkpoint uint64        // every event up to it is stored in the stream
	Durable    uint64        // the log's last committed event
	LagEvents  uint64        // committed, not yet acknowledged by JetStream
	Lag        time.Duration // age of the oldest of those
	InFlight   int
	Published  uint64
	Errors     uint64
	LastError  string // redacted
}

// Status is the publisher's state at now.
func (p *Publisher) Status(now time.Time) PublishStatus {
	p.mu.Lock()
	le := p.lastErr
	p.mu.Unlock()
	return PublishStatus{Checkpoint: p.acked.Load(), Durable: p.log.Durable(), LagEvents: p.lagEvents(),
		Lag: p.lagSeconds(now), InFlight: int(p.inflight.Load()), Published: p.m.events.Get(),
		Errors: p.m.errs.Get(), LastError: le}
}
