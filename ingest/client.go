package ingest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/logthrottle"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/retry"
	"github.com/liqbox/liqbox/ring"
)

// StreamOptions tune a Stream. Zero values take the defaults in brackets.
type StreamOptions struct {
	Conns      int           // redundant connections [1]
	RingSize   int           // events buffered per connection [4096]
	MaxFrame   int64         // largest accepted frame in bytes [1 MiB]
	BackoffMin time.Duration // second reconnect delay; the first is at most a quarter of it [250ms]
	BackoffMax time.Duration // reconnect delay cap [30s]
	// MinDialInterval spaces the dials of one connection slot, so that a
	// venue that accepts and at once drops every connection is not
	// hammered: a connection that lived longer is replaced at once [1s].
	MinDialInterval time.Duration
	// Overlap is how long a replacement connection runs beside the one it
	// replaces before that one is closed [3s].
	Overlap time.Duration
	// DialTimeout bounds the handshake and the subscription [10s].
	DialTimeout time.Duration
	// DownSince, when set, is the previous run's last proof of liveness
	// (or its clean stop): the stream's first gap then starts there with
	// cause DownCause ("liqbox crashed", "liqbox not running") and runs to
	// the first live connection, as one gap. Zero: the first gap is the
	// start-up connect (cause "starting"), recorded only if it lasts 30 s.
	DownSince time.Time
	DownCause string // [liqbox not running]
	Waker     *ring.Waker
	Gaps      GapRecorder
	Metrics   *metrics.Set
	Logger    *slog.Logger
	Dialer    *websocket.Dialer // for tests; nil uses a default with DialTimeout
}

// Stream holds one venue stream open over one or more redundant
// connections, each feeding its own rings. It owns all its goroutines.
type Stream struct {
	spec  Spec
	o     StreamOptions
	log   *slog.Logger
	slots []*slot
	// live counts the slots with a live connection. It changes only under
	// mu, together with the slots' connected flags and the open gap, so
	// the three never disagree; readers load it without the lock.
	live atomic.Int32

	mu       sync.Mutex // guards gap, lastGap, stopping, ledger and every slot's liveConns and downFrom
	gap      openGap
	lastGap  Gap // the latest gap ended, End set; zero before any
	stopping bool
	ledger   []ledgerOp
	wake     chan struct{} // tells the monitor the ledger has work

	decoded atomic.Uint64 // frames handed to the decoder
	rate    decodeRate

	decodeErrLog logthrottle.Throttle
	// ctl inspects frames that decoded to no events for the venue's error
	// replies (a rejected subscription stays silent otherwise); nil when
	// the decoder cannot tell.
	ctl         ControlInspector
	venueErrLog logthrottle.Throttle
	m           streamMetrics
}

// ConnState is a snapshot of one connection slot for /status and the status page.
type ConnState struct {
	Venue     string
	Stream    string
	Conn      int
	Connected bool
	Since     time.Time     // when the current connection came up
	LastFrame time.Time     // zero if none yet
	RTT       time.Duration // last keepalive round-trip, 0 if unknown
	Frames    uint64
	Reconnect uint64
}

type streamMetrics struct {
	frames, bytes, decodeErrs, oversized, ringDrops *metrics.Counter
	venueErrs, canaryFrames                         *metrics.Counter
	long, short, unknownSide                        *metrics.Counter
	backlog                                         *metrics.Counter
	gapSeconds                                      *metrics.FloatCounter
	gaps                                            *metrics.Counter
}

// NewStream prepares a stream; Run starts it.
func NewStream(spec Spec, o StreamOptions) *Stream {
	if o.Conns <= 0 {
		o.Conns = 1
	}
	if o.RingSize <= 0 {
		o.RingSize = 4096
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = 1 << 20
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 250 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.MinDialInterval <= 0 {
		o.MinDialInterval = time.Second
	}
	if o.Overlap <= 0 {
		o.Overlap = 3 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.DownCause == "" {
		o.DownCause = CauseNotRunning
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Dialer == nil {
		o.Dialer = &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: o.DialTimeout,
			ReadBufferSize:   64 << 10,
			WriteBufferSize:  4 << 10,
		}
	}
	s := &Stream{spec: spec, o: o, wake: make(chan struct{}, 1)}
	s.log = o.Logger.With("venue", spec.Venue.String(), "stream", spec.Stream)
	s.decodeErrLog.Every = 10 * time.Second
	s.venueErrLog.Every = 10 * time.Second
	s.ctl, _ = spec.Decoder.(ControlInspector)
	lbl := `{venue="` + spec.Venue.String() + `",stream="` + spec.Stream + `"}`
	set := o.Metrics
	metricdoc.Describe(set, `liqbox_ingest_events_total`, "Liquidations decoded, by venue, stream and liquidated side.")
	s.m = streamMetrics{
		frames:       metricdoc.Counter(set, `liqbox_ingest_frames_total`+lbl, "WebSocket frames read, per venue and stream."),
		bytes:        metricdoc.Counter(set, `liqbox_ingest_bytes_total`+lbl, "WebSocket payload bytes read, per venue and stream."),
		decodeErrs:   metricdoc.Counter(set, `liqbox_ingest_decode_errors_total`+lbl, "Frames refused by the decoder, or holding a liquidation it refused (the good ones are kept); logged, rate-limited, with their first bytes."),
		oversized:    metricdoc.Counter(set, `liqbox_ingest_oversized_frames_total`+lbl, "Frames larger than the read buffer (the connection is reset)."),
		ringDrops:    metricdoc.Counter(set, `liqbox_ring_dropped_total`+lbl, "Events dropped because a ring was full (the pipeline fell behind)."),
		venueErrs:    metricdoc.Counter(set, `liqbox_ingest_venue_errors_total`+lbl, "Error messages sent by the venue on the stream."),
		canaryFrames: metricdoc.Counter(set, `liqbox_ingest_canary_frames_total`+lbl, "Canary frames read (the steady public stream that proves a subscription alive); dropped before decoding."),
		long:         set.NewCounter(`liqbox_ingest_events_total{venue="` + spec.Venue.String() + `",stream="` + spec.Stream + `",side="long"}`),
		short:        set.NewCounter(`liqbox_ingest_events_total{venue="` + spec.Venue.String() + `",stream="` + spec.Stream + `",side="short"}`),
		unknownSide:  set.NewCounter(`liqbox_ingest_events_total{venue="` + spec.Venue.String() + `",stream="` + spec.Stream + `",side="unknown"}`),
		backlog:      metricdoc.Counter(set, `liqbox_ingest_backlog_events_total`+lbl, "Events replayed by an exchange snapshot at connect (never alerted)."),
		gapSeconds:   metricdoc.FloatCounter(set, `liqbox_ingest_gap_seconds_total`+lbl, "Seconds during which a stream had no live connection; moves only when a gap ends (the current one is liqbox_ingest_gap_open_seconds)."),
		gaps:         metricdoc.Counter(set, `liqbox_ingest_gaps_total`+lbl, "Intervals during which a stream had no live connection; moves only when a gap ends."),
	}
	metricdoc.Gauge(set, `liqbox_ingest_live_connections`+lbl, "Connection slots of a stream with a live connection (subscribed and proven by a frame; with a canary, by a canary frame or a liquidation).",
		func() float64 { return float64(s.live.Load()) })
	metricdoc.Gauge(set, `liqbox_ingest_gap_open_seconds`+lbl, "Seconds of the stream's current gap, 0 while a connection is live.", func() float64 {
		if g, ok := s.CurrentGap(); ok {
			return time.Since(g.Start).Seconds()
		}
		return 0
	})
	metricdoc.Gauge(set, `liqbox_ingest_decode_error_ratio`+lbl, "Decode errors per frame handed to the decoder over the last minute (canary frames and pongs excluded).", func() float64 {
		r, _, _ := s.DecodeErrorRate()
		return r
	})
	for i := 0; i < o.Conns; i++ {
		s.slots = append(s.slots, newSlot(s, i))
	}
	return s
}

// Spec returns the stream's spec.
func (s *Stream) Spec() Spec { return s.spec }

// Rings returns every ring this stream can write to, for the pipeline to
// drain. Each connection slot has two, so a replacement connection can run
// beside the one it replaces without two producers sharing a ring.
func (s *Stream) Rings() []*ring.Ring {
	var rs []*ring.Ring
	for _, sl := range s.slots {
		rs = append(rs, sl.rings[0], sl.rings[1])
	}
	return rs
}

// Live reports how many connection slots have a live connection: up,
// subscribed and proven by a frame (with a canary: by a canary frame or a
// liquidation). During a make-before-break rotation a slot counts once.
func (s *Stream) Live() int { return int(s.live.Load()) }

// States returns a snapshot of every connection slot. Connected agrees with
// Live at every moment, rotations included.
func (s *Stream) States() []ConnState {
	out := make([]ConnState, 0, len(s.slots))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sl := range s.slots {
		out = append(out, sl.state())
	}
	return out
}

// Run holds the stream's connections open until ctx is cancelled. It
// returns nil on cancellation: connection failures are retried forever,
// counted and recorded as gaps, never returned. A gap still open at
// cancellation is recorded as ending then.
func (s *Stream) Run(ctx context.Context) error {
	now := time.Now()
	s.mu.Lock()
	if d := s.o.DownSince; !d.IsZero() && d.Before(now) {
		s.beginGapLocked(d, s.o.DownCause, true)
	} else {
		s.beginGapLocked(now, CauseStarting, false)
	}
	s.mu.Unlock()

	quit := make(chan struct{})
	var mon sync.WaitGroup
	mon.Add(1)
	go func() {
		defer mon.Done()
		s.monitor(quit)
	}()
	// The slots run under their own context so that the stream is marked
	// stopping before any connection closes: closing for shutdown must not
	// open a gap.
	sctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, sl := range s.slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sl.run(sctx)
		}()
	}
	<-ctx.Done()
	stopAt := time.Now()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	cancel()
	wg.Wait()
	s.mu.Lock()
	s.endGapLocked(stopAt)
	s.mu.Unlock()
	close(quit)
	mon.Wait()
	return nil
}

// slot is one redundant connection position. At most two connections are
// alive in a slot, only during a planned rotation, each on its own ring.
type slot struct {
	s     *Stream
	idx   int
	rings [2]*ring.Ring
	log   *slog.Logger

	liveConns int       // live connections in the slot (0..2); guarded by s.mu
	downFrom  time.Time // when the slot last stopped being trustworthy; guarded by s.mu

	// Atomics read by States and the gauges while the connections write them.
	connected atomic.Bool // liveConns > 0, written under s.mu
	since     atomic.Int64
	lastFrame atomic.Int64 // unix ns
	rttNs     atomic.Int64
	framesN   atomic.Uint64
	cur       atomic.Pointer[conn] // the newest connection, for the sibling check

	reconnects                   *metrics.Counter
	rcDial, rcRead, rcStale      *metrics.Counter
	rcRotate, rcServer, rcSubErr *metrics.Counter
	rcMissed, rcVenue            *metrics.Counter
	siblingMisses                *metrics.Counter
	rtt                          *metrics.PrometheusHistogram
}

func newSlot(s *Stream, idx int) *slot {
	sl := &slot{s: s, idx: idx, log: s.log.With("conn", idx)}
	sl.rings[0] = ring.New(s.o.RingSize, s.o.Waker)
	sl.rings[1] = ring.New(s.o.RingSize, s.o.Waker)
	base := `venue="` + s.spec.Venue.String() + `",stream="` + s.spec.Stream + `",conn="` + strconv.Itoa(idx) + `"`
	set := s.o.Metrics
	metricdoc.Describe(set, `liqbox_ingest_reconnects_total`, "Connections lost, replaced or rotated, by cause (stale includes a silent canary; missed_events a redundant connection that kept missing its sibling's liquidations; venue_request the venue asked for a new connection).")
	rc := func(cause string) *metrics.Counter {
		return set.NewCounter(`liqbox_ingest_reconnects_total{` + base + `,cause="` + cause + `"}`)
	}
	sl.rcDial, sl.rcRead, sl.rcStale = rc("dial"), rc("read_error"), rc(CauseStale)
	sl.rcRotate, sl.rcServer, sl.rcSubErr = rc("rotation"), rc("server_close"), rc("subscribe")
	sl.rcMissed = rc(CauseMissedEvents)
	sl.rcVenue = rc(CauseVenueRequest)
	sl.siblingMisses = metricdoc.Counter(set, `liqbox_ingest_sibling_misses_total{`+base+`}`, "Liquidations a redundant connection did not deliver although its sibling did (5 in a row replace it).")
	sl.reconnects = metricdoc.Counter(set, `liqbox_ingest_connects_total{`+base+`}`, "Successful connects of a connection slot.")
	sl.rtt = metricdoc.Histogram(set, `liqbox_ingest_keepalive_rtt_seconds{`+base+`}`, "Round-trip time of WebSocket keepalive pings.", rttBuckets)
	metricdoc.Gauge(set, `liqbox_ingest_connected{`+base+`}`, "1 while the connection slot is connected, else 0.", func() float64 {
		if sl.connected.Load() {
			return 1
		}
		return 0
	})
	metricdoc.Gauge(set, `liqbox_ingest_last_frame_age_seconds{`+base+`}`, "Seconds since the connection slot's last frame (-1 before the first).", func() float64 {
		t := sl.lastFrame.Load()
		if t == 0 {
			return -1
		}
		return float64(time.Now().UnixNano()-t) / 1e9
	})
	metricdoc.Gauge(set, `liqbox_ring_depth{`+base+`}`, "Events waiting in a connection's rings for the pipeline.", func() float64 {
		return float64(sl.rings[0].Len() + sl.rings[1].Len())
	})
	return sl
}

var rttBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

func (sl *slot) state() ConnState {
	st := ConnState{
		Venue:     sl.s.spec.Venue.String(),
		Stream:    sl.s.spec.Stream,
		Conn:      sl.idx,
		Connected: sl.connected.Load(),
		RTT:       time.Duration(sl.rttNs.Load()),
		Frames:    sl.framesN.Load(),
		Reconnect: sl.reconnects.Get(),
	}
	if t := sl.since.Load(); t != 0 {
		st.Since = time.Unix(0, t)
	}
	if t := sl.lastFrame.Load(); t != 0 {
		st.LastFrame = time.Unix(0, t)
	}
	return st
}

// run keeps one connection alive in this slot, replacing a lost one at
// once and rotating it before the venue's cut without a blind moment.
//
// The reconnect rule: the backoff resets as soon as a connection has
// proved alive (Stream.Live), so the first retry after losing it is
// immediate (a jitter of at most a quarter of BackoffMin); retries that
// follow a failed dial back off exponentially with jitter up to
// BackoffMax. Dials of one slot are at least MinDialInterval apart.
func (sl *slot) run(ctx context.Context) {
	spec := sl.s.spec
	bo := backoff{min: sl.s.o.BackoffMin, max: sl.s.o.BackoffMax}
	var lastDial time.Time
	ringIdx := 0
	var cur *conn
	var alive <-chan struct{}
	var rotate <-chan time.Time
	var rotateTimer *time.Timer
	stopTimer := func() {
		if rotateTimer != nil {
			rotateTimer.Stop()
			rotateTimer, rotate = nil, nil
		}
	}
	setTimer := func(d time.Duration) {
		stopTimer()
		rotateTimer = time.NewTimer(d)
		rotate = rotateTimer.C
	}
	defer func() {
		stopTimer()
		if cur != nil {
			cur.stop()
		}
	}()
	for {
		if cur == nil {
			if cur = sl.connect(ctx, ringIdx, &bo, &lastDial); cur == nil {
				return // ctx cancelled
			}
			alive = cur.alive
			if spec.MaxLifetime > 0 {
				setTimer(time.Until(cur.started.Add(spec.MaxLifetime)))
			}
		}
		rot := false
		select {
		case <-ctx.Done():
			return
		case <-alive:
			alive = nil
			bo.reset()
		case err := <-cur.done:
			stopTimer()
			cur.stop() // the socket and the watchdog, which outlive the reader
			cause := cur.cause(err)
			sl.countReconnect(cause)
			sl.log.Warn("connection lost", "cause", cause, "err", err, "lived", time.Since(cur.started).Round(time.Millisecond).String())
			cur, alive = nil, nil
			if !retry.Sleep(ctx, sl.retryDelay(&bo, lastDial)) {
				return
			}
		case <-rotate:
			rot = true
		case <-cur.rotateNow:
			// The venue's notice of a cut: the planned rotation, now.
			sl.log.Info("the venue announced a cut of the connection: rotating it now", "age", time.Since(cur.started).Round(time.Second).String())
			rot = true
		}
		if rot {
			stopTimer()
			next := sl.rotate(ctx, cur, ringIdx^1, &bo, &lastDial)
			if ctx.Err() != nil {
				if next != nil {
					next.stop()
				}
				return
			}
			if next == nil {
				// The replacement did not come up; the current
				// connection serves on, and the rotation is tried again.
				setTimer(sl.retryDelay(&bo, lastDial))
				continue
			}
			ringIdx ^= 1
			cur, alive = next, nil
			if spec.MaxLifetime > 0 {
				setTimer(time.Until(cur.started.Add(spec.MaxLifetime)))
			}
		}
	}
}

// rotate brings a replacement up on the other ring while cur serves, lets
// both run for Overlap once the replacement is live, and closes cur. It
// returns nil, keeping cur, when the replacement does not go live within
// DialTimeout.
func (sl *slot) rotate(ctx context.Context, cur *conn, ringIdx int, bo *backoff, lastDial *time.Time) *conn {
	next := sl.connect(ctx, ringIdx, bo, lastDial)
	if next == nil {
		return nil
	}
	t := time.NewTimer(sl.s.o.DialTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return next
	case <-next.alive:
	case err := <-next.done:
		sl.log.Warn("replacement connection failed, keeping the current one", "err", err)
		next.stop()
		return nil
	case <-t.C:
		sl.log.Warn("replacement connection did not go live, keeping the current one")
		next.stop()
		return nil
	}
	bo.reset()
	sl.rcRotate.Inc()
	sl.log.Info("rotated connection before the venue's cut", "age", time.Since(cur.started).Round(time.Second).String())
	if !retry.Sleep(ctx, sl.s.o.Overlap) {
		return next
	}
	cur.stop()
	return next
}

// retryDelay is the wait before the next dial: the backoff's, but never
// closer than MinDialInterval to the previous dial.
func (sl *slot) retryDelay(bo *backoff, lastDial time.Time) time.Duration {
	d := bo.next()
	if floor := time.Until(lastDial.Add(sl.s.o.MinDialInterval)); floor > d {
		d = floor
	}
	return d
}

func (sl *slot) countReconnect(cause string) {
	switch cause {
	case CauseStale:
		sl.rcStale.Inc()
	case CauseMissedEvents:
		sl.rcMissed.Inc()
	case CauseVenueRequest:
		sl.rcVenue.Inc()
	case "oversized_frame":
		sl.s.m.oversized.Inc()
		sl.rcRead.Inc()
	case "server_close":
		sl.rcServer.Inc()
	default:
		sl.rcRead.Inc()
	}
}

// connect dials and subscribes until it succeeds or ctx ends (nil).
func (sl *slot) connect(ctx context.Context, ringIdx int, bo *backoff, lastDial *time.Time) *conn {
	for {
		*lastDial = time.Now()
		c, err := sl.dial(ctx, ringIdx)
		if err == nil {
			return c
		}
		if ctx.Err() != nil {
			return nil
		}
		sl.log.Warn("cannot connect", "err", err)
		if !retry.Sleep(ctx, sl.retryDelay(bo, *lastDial)) {
			return nil
		}
	}
}
