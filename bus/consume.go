package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/logthrottle"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/ring"
	"github.com/liqbox/liqbox/store"
)

// ConsumerLog is what the consumer needs of the log: when what it handed
// on is committed, the gap ledger, where the log's receive-time order
// stands, and a bucket for what it knows of the remote boxes.
type ConsumerLog interface {
	Durable() uint64
	Commits() uint64
	HighRecvNs() int64
	AddGap(g store.Gap) error
	PutAsync(bucket, key, value []byte) error
	ForEach(bucket []byte, fn func(k, v []byte) error) error
}

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	RingSize int         // events buffered for the pipeline [4096]
	Waker    *ring.Waker // the pipeline's
	// LastSeq is the pipeline's last sequence number: once the pipeline
	// has taken an event off the ring, the event has at most that number
	// in the log (or was a duplicate of one that has).
	LastSeq func() uint64
	Logger  *slog.Logger
}

// Consumer reads the stream through a durable consumer into a ring of the
// pipeline. Create with NewConsumer, hand Ring to the pipeline, then Run.
type Consumer struct {
	c       *Conn
	cfg     Config
	log     ConsumerLog
	lg      *slog.Logger
	ring    *ring.Ring
	lastSeq func() uint64
	badLog  logthrottle.Throttle

	// Owned by Run.
	pushes      uint64    // events pushed into ring
	fifo        []ackItem // messages not yet acknowledged, oldest first
	known       int       // fifo[:known] have seqNeed set
	lastSeqSeen uint64    // highest stream sequence delivered
	infoFails   int
	lastInfo    time.Time
	lastSave    time.Time

	// mu guards remotes, boxes, up, downSince and lastErr (Status reads them).
	mu        sync.Mutex
	remotes   map[remoteKey]*remote
	boxes     map[string]*boxMetrics
	up        bool
	downSince time.Time // the bus gap being open, zero when none
	lastErr   string
	upA       atomic.Bool // up, read without the lock on every message

	pending, ackPending atomic.Uint64
	lastOrig            atomic.Int64 // edge receive time of the newest event taken

	m consMetrics
}

type ackItem struct {
	pos        uint64 // pushes after this message's event: handled once ring.Consumed() ≥ pos
	seqNeed    uint64 // durable once the log's Durable() ≥ seqNeed (set once handled)
	commitNeed uint64 // and its Commits() ≥ commitNeed (a gap)
	msg        jetstream.Msg
}

type remoteKey struct {
	box   string
	venue event.Venue
}

// remote is what the consumer knows of one box's venue.
type remote struct {
	lastRecv    int64 // the edge box's receive time of its newest event
	lastArrival int64 // when that event arrived here
	events      uint64
	backlog     uint64
	dirty       bool
	busGap      time.Time // start of the bus gap open for it in the ledger; zero when none
}

type boxMetrics struct {
	name   string // the map's own copy of the box's name
	events *metrics.Counter
}

type consMetrics struct {
	events, gaps, own, bad, backlog, lost, restamped, skew, ringWaits *metrics.Counter
}

// remotesBucket holds the remote boxes' last events across restarts.
var remotesBucket = []byte("bus_remotes")

// maxBoxes bounds the remote boxes tracked (their metric labels and
// status rows): a stream with more publishers still delivers them.
const maxBoxes = 64

// orderMargin is how far before the log's newest receive time a remote
// event may be logged (within store.OrderSlack); an event from further
// back, caught up late, is logged at that limit instead.
const orderMargin = store.OrderSlack - 10*time.Second

// heartbeat is the pull consumer's idle heartbeat: two missed mean the
// bus is lost.
const heartbeat = 2 * time.Second

// startupGrace: the first connect is a gap only once it took this long
// (as a venue's).
const startupGrace = 30 * time.Second

// NewConsumer prepares a consumer on c. Its ring must be drained by the
// pipeline.
func NewConsumer(c *Conn, log ConsumerLog, o ConsumerOptions) *Consumer {
	if o.RingSize <= 0 {
		o.RingSize = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LastSeq == nil {
		o.LastSeq = func() uint64 { return 0 }
	}
	cfg := c.Config()
	k := &Consumer{c: c, cfg: cfg, log: log, lastSeq: o.LastSeq, ring: ring.New(o.RingSize, o.Waker),
		lg:      o.Logger.With("url", c.red.URL(), "stream", cfg.Stream, "consumer", cfg.Consumer),
		remotes: map[remoteKey]*remote{}, boxes: map[string]*boxMetrics{}}
	k.badLog.Every = 10 * time.Second
	set := c.set
	k.m = consMetrics{
		events:    metricdoc.Counter(set, `liqbox_bus_consumed_total{kind="event"}`, "Messages taken from the bus, by kind (event, gap, own: this box's, skipped)."),
		gaps:      metricdoc.Counter(set, `liqbox_bus_consumed_total{kind="gap"}`, "Messages taken from the bus, by kind (event, gap, own: this box's, skipped)."),
		own:       metricdoc.Counter(set, `liqbox_bus_consumed_total{kind="own"}`, "Messages taken from the bus, by kind (event, gap, own: this box's, skipped)."),
		bad:       metricdoc.Counter(set, `liqbox_bus_consume_bad_total`, "Bus messages refused because they do not decode (logged, rate-limited, and acknowledged)."),
		backlog:   metricdoc.Counter(set, `liqbox_bus_consume_backlog_total`, "Remote events that arrived later than bus.alert_max_age after their edge box received them: logged, never alerted."),
		lost:      metricdoc.Counter(set, `liqbox_bus_consume_lost_total`, "Stream messages dropped by its limits (max_age, max_bytes) before this box read them."),
		restamped: metricdoc.Counter(set, `liqbox_bus_consume_restamped_total`, "Remote events too far behind the log's newest to keep their receive time: logged at the log's order limit."),
		skew:      metricdoc.Counter(set, `liqbox_bus_consume_clock_ahead_total`, "Remote events stamped ahead of this box's clock (the edge box's clock is off): logged as received now."),
		ringWaits: metricdoc.Counter(set, `liqbox_bus_consume_ring_waits_total`, "Times the consumer waited for room in its ring (the pipeline behind; the stream holds the rest)."),
	}
	// Described once, up front: the series come per remote box (newBox).
	metricdoc.Describe(set, `liqbox_bus_remote_last_event_age_seconds`, "Age, by this box's clock, of the newest event a remote box published (-1 before one).")
	metricdoc.Describe(set, `liqbox_bus_remote_events_total`, "Events taken from a remote box.")
	metricdoc.Gauge(set, `liqbox_bus_consumer_pending`, "Messages in the stream not yet delivered to this box's durable consumer.", func() float64 { return float64(k.pending.Load()) })
	metricdoc.Gauge(set, `liqbox_bus_consumer_ack_pending`, "Messages delivered to this box and not yet committed to its log and acknowledged.", func() float64 { return float64(k.ackPending.Load()) })
	metricdoc.Gauge(set, `liqbox_bus_consumer_lag_seconds`, "Age of the newest remote event taken while messages wait (0 when none waits).", func() float64 { return k.lag(time.Now()).Seconds() })
	metricdoc.Gauge(set, `liqbox_bus_consumer_up`, "1 while the stream answers this box's consumer, else 0 (remote streams blind).", func() float64 {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.up {
			return 1
		}
		return 0
	})
	return k
}

// Ring is the consumer's ring, for the pipeline to drain.
func (k *Consumer) Ring() *ring.Ring { return k.ring }

// Run consumes until ctx ends. A bus gap open then is recorded as ending
// at the stop.
func (k *Consumer) Run(ctx context.Context) error {
	k.loadRemotes()
	started := time.Now()
	defer func() {
		k.closeBusGaps(time.Now()) // a gap open at the stop ends there
		k.saveRemotes(true)
	}()
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		js, err := k.waitUp(ctx, started)
		if err != nil {
			return nil
		}
		t0 := time.Now()
		err = k.session(ctx, js)
		if ctx.Err() != nil {
			return nil
		}
		k.failed(err)
		k.setUp(false, time.Now())
		if time.Since(t0) > 10*time.Second {
			backoff = 0
		}
		backoff = min(max(2*backoff, 250*time.Millisecond), 5*time.Second)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
	return nil
}

// waitUp waits for the connection, opening the bus gap once the box has
// been without it for the start-up grace (or at once after a session).
func (k *Consumer) waitUp(ctx context.Context, started time.Time) (jetstream.JetStream, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		js, err := k.c.WaitUp(wctx)
		cancel()
		if err == nil {
			return js, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if now := time.Now(); now.Sub(started) >= startupGrace {
			k.mu.Lock()
			wasUp := k.up || k.downSince.IsZero()
			k.mu.Unlock()
			if wasUp {
				since := started
				if k.c.Since().After(since) {
					since = k.c.Since()
				}
				k.setUp(false, since)
			}
		}
	}
}

func (k *Consumer) session(ctx context.Context, js jetstream.JetStream) error {
	st, err := k.c.EnsureStream(ctx, js)
	if err != nil {
		return err
	}
	cons, err := k.consumer(ctx, st)
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(512), jetstream.PullHeartbeat(heartbeat),
		jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return fmt.Errorf("cannot read the bus: %s", k.c.red.Text(err.Error()))
	}
	defer it.Stop()
	// Messages delivered before this session and not acknowledged will be
	// delivered again; the fifo of the old session is void.
	k.fifo, k.known = k.fifo[:0], 0
	k.infoFails = 0
	// Messages the stream removed (its limits) after the last one this
	// consumer was given show as a jump in stream sequence numbers.
	k.lastSeqSeen = 0
	if in := cons.CachedInfo(); in != nil {
		k.lastSeqSeen = in.Delivered.Stream
	}
	if err := k.info(ctx, cons); err != nil {
		return err
	}
	for ctx.Err() == nil {
		// Short waits while acknowledgements are due, so the last ones of
		// a burst go out soon; long ones when idle.
		wait := time.Second
		if len(k.fifo) > 0 {
			wait = 50 * time.Millisecond
		}
		nctx, cancel := context.WithTimeout(ctx, wait)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		now := time.Now()
		switch {
		case err == nil:
			if err := k.handle(ctx, msg, now); err != nil {
				return err
			}
			k.setUp(true, now)
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		case errors.Is(err, jetstream.ErrNoHeartbeat):
			k.setUp(false, now.Add(-2*heartbeat))
		case ctx.Err() != nil:
			return nil
		default:
			return fmt.Errorf("cannot read the bus: %s", k.c.red.Text(err.Error()))
		}
		if !k.c.Connected() {
			k.setUp(false, k.c.Since())
		}
		k.ack()
		if now.Sub(k.lastInfo) >= 2*time.Second {
			if err := k.info(ctx, cons); err != nil {
				return err
			}
		}
		if now.Sub(k.lastSave) >= 5*time.Second {
			k.saveRemotes(false)
		}
	}
	return nil
}

// consumer returns the durable consumer, creating it on first use to
// start with the messages of the last FirstAge (the rule of every new sink;
// older ones are history the edge boxes' own logs keep).
func (k *Consumer) consumer(ctx context.Context, st jetstream.Stream) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := st.Consumer(cctx, k.cfg.Consumer)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("cannot find consumer %s: %s", k.cfg.Consumer, k.c.red.Text(err.Error()))
	}
	from := time.Now().Add(-k.cfg.FirstAge)
	cons, err = st.CreateConsumer(cctx, jetstream.ConsumerConfig{
		Durable:        k.cfg.Consumer,
		Description:    "liqbox box " + k.cfg.BoxName,
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &from,
		AckPolicy:      jetstream.AckAllPolicy,
		AckWait:        30 * time.Second,
		MaxDeliver:     -1,
		MaxAckPending:  16384,
		FilterSubjects: k.cfg.subjects(),
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create consumer %s: %s", k.cfg.Consumer, k.c.red.Text(err.Error()))
	}
	k.lg.Info("created the durable consumer", "from", from.UTC().Format(time.RFC3339))
	return cons, nil
}

// info reads the consumer's lag; it also proves the stream answers. Two
// failures in a row mean the bus is lost.
func (k *Consumer) info(ctx context.Context, cons jetstream.Consumer) error {
	k.lastInfo = time.Now()
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	in, err := cons.Info(ictx)
	cancel()
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("the durable consumer is gone: %w", err)
		}
		if k.infoFails++; k.infoFails >= 2 {
			k.setUp(false, k.lastInfo.Add(-2*time.Second))
		}
		return nil
	}
	k.infoFails = 0
	k.pending.Store(in.NumPending)
	k.ackPending.Store(uint64(in.NumAckPending))
	if k.c.Connected() {
		k.setUp(true, time.Now())
	}
	return nil
}

// handle takes one message: an event into the ring, a gap into the ledger.
func (k *Consumer) handle(ctx context.Context, msg jetstream.Msg, now time.Time) error {
	if md, err := msg.Metadata(); err == nil {
		if md.NumDelivered == 1 {
			if k.lastSeqSeen > 0 && md.Sequence.Stream > k.lastSeqSeen+1 {
				n := md.Sequence.Stream - k.lastSeqSeen - 1
				k.m.lost.Add(int(n))
				k.lg.Warn("the stream dropped messages before this box read them (its max_age or max_bytes)",
					"messages", n, "from_stream_seq", k.lastSeqSeen+1)
			}
			k.lastSeqSeen = max(k.lastSeqSeen, md.Sequence.Stream)
		}
		k.pending.Store(md.NumPending)
	}
	var commitNeed uint64
	subj := msg.Subject()
	switch {
	case strings.HasPrefix(subj, k.cfg.Subject+".events."):
		if err := k.takeEvent(ctx, msg.Data(), now); err != nil {
			return err
		}
	case strings.HasPrefix(subj, k.cfg.Subject+".gaps."):
		ok, err := k.takeGap(ctx, msg.Data())
		if err != nil {
			return err
		}
		if ok {
			commitNeed = k.log.Commits() + 2
		}
	default:
		k.bad(fmt.Errorf("%w: subject %q", ErrBadMessage, subj), msg.Data())
	}
	k.fifo = append(k.fifo, ackItem{pos: k.pushes, commitNeed: commitNeed, msg: msg})
	return nil
}

// takeEvent pushes one remote event into the ring, flagged remote, with
// the age rule applied: an event that reaches this box more than
// AlertMaxAge after its edge box received it is backlog (logged, never
// alerted); one that would lie further back than the log's order allows
// is logged at that limit; one stamped ahead of this box's clock (the edge
// box's clock is off) at now.
func (k *Consumer) takeEvent(ctx context.Context, data []byte, now time.Time) error {
	var ev event.Event
	box, err := DecodeEvent(data, &ev)
	if err != nil {
		k.bad(err, data)
		return nil
	}
	if box == k.cfg.BoxName {
		k.m.own.Inc()
		return nil
	}
	nowNs := now.UnixNano()
	orig := ev.RecvNs
	ev.Seq = 0
	ev.Conn = event.ConnRemote
	ev.Flags = ev.Flags&event.FlagBacklog | event.FlagRemote
	if orig > nowNs+int64(time.Second) {
		ev.RecvNs = nowNs
		k.m.skew.Inc()
	}
	if nowNs-orig > int64(k.cfg.AlertMaxAge) && ev.Flags&event.FlagBacklog == 0 {
		ev.Flags |= event.FlagBacklog
		k.m.backlog.Inc()
	}
	if floor := k.log.HighRecvNs() - int64(orderMargin); ev.RecvNs < floor {
		ev.RecvNs = floor
		k.m.restamped.Inc()
	}
	for k.ring.Len() >= k.ring.Cap() {
		// The pipeline is behind: the stream holds the rest meanwhile.
		k.m.ringWaits.Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Microsecond)
	}
	k.ring.Push(&ev)
	k.pushes++
	k.m.events.Inc()
	k.lastOrig.Store(orig)
	k.track(box, ev.Venue, func(r *remote) {
		r.lastRecv, r.lastArrival = max(r.lastRecv, orig), nowNs
		r.events++
		if ev.Flags&event.FlagBacklog != 0 {
			r.backlog++
		}
	})
	return nil
}

// takeGap records a remote gap in the ledger, its stream labelled with the
// edge box. A ledger whose queue is full (the disk fails) is waited for:
// the message must not be acknowledged before the gap is kept.
func (k *Consumer) takeGap(ctx context.Context, data []byte) (bool, error) {
	box, g, err := DecodeGap(data)
	if err != nil {
		k.bad(err, data)
		return false, nil
	}
	if box == k.cfg.BoxName {
		k.m.own.Inc()
		return false, nil
	}
	v, _ := event.ParseVenue(g.Venue)
	g.Stream = RemoteStream(box, g.Stream)
	for {
		err := k.log.AddGap(g)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrQueueFull) {
			k.bad(err, data)
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	k.m.gaps.Inc()
	k.track(box, v, func(*remote) {})
	return true, nil
}

// bad counts a message that does not decode; it is acknowledged with the
// rest (it would never decode).
func (k *Consumer) bad(err error, data []byte) {
	k.m.bad.Inc()
	if n, ok := k.badLog.Allow(time.Now()); ok {
		head := data
		if len(head) > 64 {
			head = head[:64]
		}
		k.lg.Warn("refused a message from the bus", "err", err.Error(), "first_bytes", strconv.Quote(string(head)), "repeats", n)
	}
}

// track updates the remote box's venue under the lock, creating it (and
// the box's metrics) on first sight.
func (k *Consumer) track(box string, v event.Venue, fn func(*remote)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	bm := k.boxes[box]
	if bm == nil {
		if len(k.boxes) >= maxBoxes {
			return
		}
		bm = k.newBox(strings.Clone(box)) // box may point into a message
		k.boxes[bm.name] = bm
	}
	key := remoteKey{bm.name, v}
	r := k.remotes[key]
	if r == nil {
		r = &remote{}
		k.remotes[key] = r
		if !k.up && !k.downSince.IsZero() {
			k.openBusGapLocked(key, r, k.downSince)
		}
	}
	before := r.events
	fn(r)
	r.dirty = true
	bm.events.Add(int(r.events - before))
}

func (k *Consumer) newBox(box string) *boxMetrics {
	lbl := `{box="` + box + `"}`
	set := k.c.set
	set.GetOrCreateGauge(`liqbox_bus_remote_last_event_age_seconds`+lbl, func() float64 {
		if a, ok := k.boxAge(box, time.Now()); ok {
			return a.Seconds()
		}
		return -1
	})
	return &boxMetrics{name: box, events: set.GetOrCreateCounter(`liqbox_bus_remote_events_total` + lbl)}
}

// boxAge is the age (by this box's clock) of the newest event box sent.
func (k *Consumer) boxAge(box string, now time.Time) (time.Duration, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var newest int64
	for key, r := range k.remotes {
		if key.box == box && r.lastRecv > newest {
			newest = r.lastRecv
		}
	}
	if newest == 0 {
		return 0, false
	}
	return max(now.Sub(time.Unix(0, newest)), 0), true
}

// setUp records that the bus is reachable (up) or lost since at; losing
// it opens a gap for every remote box and venue known, finding it again
// closes them.
func (k *Consumer) setUp(up bool, at time.Time) {
	if up && k.upA.Load() {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if up {
		if k.up {
			return
		}
		if !k.downSince.IsZero() {
			k.lg.Info("the bus is back", "blind_for", at.Sub(k.downSince).Round(time.Millisecond).String())
		}
		k.up = true
		k.upA.Store(true)
		k.closeBusGapsLocked(at)
		return
	}
	if !k.up && !k.downSince.IsZero() {
		return
	}
	k.up = false
	k.upA.Store(false)
	k.downSince = at
	k.lg.Warn("lost the bus: remote streams are blind until it is back (their events are caught up then, as backlog)",
		"since", at.UTC().Format(time.RFC3339Nano))
	for key, r := range k.remotes {
		k.openBusGapLocked(key, r, at)
	}
}

// closeBusGaps closes every open bus gap at at.
func (k *Consumer) closeBusGaps(at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closeBusGapsLocked(at)
}

func (k *Consumer) closeBusGapsLocked(at time.Time) {
	k.downSince = time.Time{}
	for key, r := range k.remotes {
		if !r.busGap.IsZero() {
			g := store.Gap{Venue: key.venue.String(), Stream: BusStream(key.box), Start: r.busGap, End: at, Cause: causeBus}
			if g.End.Before(g.Start) {
				g.End = g.Start
			}
			r.busGap = time.Time{}
			k.addGap(g)
		}
	}
}

// causeBus is the cause of a bus gap in the ledger.
const causeBus = "bus unreachable"

func (k *Consumer) openBusGapLocked(key remoteKey, r *remote, at time.Time) {
	r.busGap = at
	k.addGap(store.Gap{Venue: key.venue.String(), Stream: BusStream(key.box), Start: at, Cause: causeBus})
}

func (k *Consumer) addGap(g store.Gap) {
	if err := k.log.AddGap(g); err != nil {
		k.lg.Error("cannot record a bus gap", "err", err, "venue", g.Venue, "stream", g.Stream)
	}
}

// ack acknowledges, with one AckAll, the newest message whose every
// predecessor's content is committed in the log.
func (k *Consumer) ack() {
	if len(k.fifo) == 0 {
		k.shrinkFifo()
		return
	}
	h := k.ring.Consumed()
	last := k.lastSeq()
	for k.known < len(k.fifo) && k.fifo[k.known].pos <= h {
		k.fifo[k.known].seqNeed = last
		k.known++
	}
	dur, commits := k.log.Durable(), k.log.Commits()
	n := 0
	for n < k.known && dur >= k.fifo[n].seqNeed && commits >= k.fifo[n].commitNeed {
		n++
	}
	if n == 0 {
		return
	}
	if err := k.fifo[n-1].msg.Ack(); err != nil {
		// Unacknowledged messages come again after AckWait; the
		// pipeline's dedup drops their events.
		k.failed(fmt.Errorf("cannot acknowledge to the bus: %w", err))
	}
	copy(k.fifo, k.fifo[n:])
	for i := len(k.fifo) - n; i < len(k.fifo); i++ {
		k.fifo[i] = ackItem{}
	}
	k.fifo = k.fifo[:len(k.fifo)-n]
	k.known -= n
}

// shrinkFifo releases a fifo grown large in a burst.
func (k *Consumer) shrinkFifo() {
	if cap(k.fifo) > 1<<16 {
		k.fifo = nil
	}
}

func (k *Consumer) failed(err error) {
	if err == nil {
		return
	}
	msg := k.c.red.Text(err.Error())
	k.mu.Lock()
	k.lastErr = msg
	k.mu.Unlock()
	if n, ok := k.badLog.Allow(time.Now()); ok {
		k.lg.Warn("cannot consume from the bus; retrying", "err", msg, "repeats", n)
	}
}

// lag is the age of the newest event taken while messages wait, 0 when
// none does.
func (k *Consumer) lag(now time.Time) time.Duration {
	if k.pending.Load() == 0 {
		return 0
	}
	o := k.lastOrig.Load()
	if o == 0 {
		return 0
	}
	return max(now.Sub(time.Unix(0, o)), 0)
}

// loadRemotes reads what the last run knew of the remote boxes, so their
// age shows and a lost bus opens their gaps from the start.
func (k *Consumer) loadRemotes() {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.log.ForEach(remotesBucket, func(key, v []byte) error {
		box, vn, ok := strings.Cut(string(key), "\x00")
		venue, known := event.ParseVenue(vn)
		if !ok || !known || CheckBoxName(box) != nil || len(v) != 16 || len(k.boxes) >= maxBoxes && k.boxes[box] == nil {
			return nil
		}
		if k.boxes[box] == nil {
			k.boxes[box] = k.newBox(box)
		}
		k.remotes[remoteKey{box, venue}] = &remote{lastRecv: int64(binary.BigEndian.Uint64(v)),
			lastArrival: int64(binary.BigEndian.Uint64(v[8:]))}
		return nil
	})
	if err != nil {
		k.lg.Warn("cannot read the remote boxes from the log", "err", err)
	}
}

// saveRemotes queues the changed remote records for the log's next batch.
func (k *Consumer) saveRemotes(all bool) {
	k.lastSave = time.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, r := range k.remotes {
		if !r.dirty && !all {
			continue
		}
		var v [16]byte
		binary.BigEndian.PutUint64(v[:], uint64(r.lastRecv))
		binary.BigEndian.PutUint64(v[8:], uint64(r.lastArrival))
		if err := k.log.PutAsync(remotesBucket, []byte(key.box+"\x00"+key.venue.String()), v[:]); err == nil {
			r.dirty = false
		}
	}
}

// RemoteBox is one remote box as the consumer knows it.
type RemoteBox struct {
	Box     string
	Venues  []string
	LastAge time.Duration // age of its newest event (by this box's clock); negative: none yet
	Events  uint64        // events taken from it since start
	Backlog uint64        // of which were backlog (late, or replayed by the venue)
	Blind   bool          // a bus gap is open for it
}

// ConsumeStatus is the consumer's state for /status and the page.
type ConsumeStatus struct {
	Consumer   string
	Up         bool      // the stream answers
	DownSince  time.Time // zero while up
	Pending    uint64    // messages in the stream not yet delivered here
	AckPending uint64    // delivered, not yet committed and acknowledged
	Lag        time.Duration
	Events     uint64
	Backlog    uint64
	Bad        uint64
	Lost       uint64
	Boxes      []RemoteBox
	LastError  string
}

// Status is the consumer's state at now.
func (k *Consumer) Status(now time.Time) ConsumeStatus {
	st := ConsumeStatus{Consumer: k.cfg.Consumer, Pending: k.pending.Load(), AckPending: k.ackPending.Load(),
		Lag: k.lag(now), Events: k.m.events.Get(), Backlog: k.m.backlog.Get(), Bad: k.m.bad.Get(), Lost: k.m.lost.Get()}
	k.mu.Lock()
	st.Up, st.DownSince, st.LastError = k.up, k.downSince, k.lastErr
	byBox := map[string]*RemoteBox{}
	for key, r := range k.remotes {
		b := byBox[key.box]
		if b == nil {
			b = &RemoteBox{Box: key.box, LastAge: -1}
			byBox[key.box] = b
		}
		b.Venues = append(b.Venues, key.venue.String())
		b.Events += r.events
		b.Backlog += r.backlog
		b.Blind = b.Blind || !r.busGap.IsZero()
		if r.lastRecv > 0 {
			if a := max(now.Sub(time.Unix(0, r.lastRecv)), 0); b.LastAge < 0 || a < b.LastAge {
				b.LastAge = a
			}
		}
	}
	k.mu.Unlock()
	for _, b := range byBox {
		sort.Strings(b.Venues)
		st.Boxes = append(st.Boxes, *b)
	}
	sort.Slice(st.Boxes, func(i, j int) bool { return st.Boxes[i].Box < st.Boxes[j].Box })
	return st
}
