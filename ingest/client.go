package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ring"
)

// Gap is an interval in which a stream had no live connection: liqbox was
// blind to that venue's liquidations.
type Gap struct {
	Venue  string
	Stream string
	Start  time.Time
	End    time.Time
	Cause  string
}

// GapRecorder persists gaps (the store's gap ledger). It is called off the
// hot path, once per gap.
type GapRecorder interface {
	RecordGap(g Gap) error
}

// StreamOptions tune a Stream. Zero values take the defaults in brackets.
type StreamOptions struct {
	Conns      int           // redundant connections [1]
	RingSize   int           // events buffered per connection [4096]
	MaxFrame   int64         // largest accepted frame in bytes [1 MiB]
	BackoffMin time.Duration // first reconnect delay [250ms]
	BackoffMax time.Duration // reconnect delay cap [30s]
	// Overlap is how long a replacement connection runs beside the one it
	// replaces before that one is closed [3s].
	Overlap time.Duration
	// DialTimeout bounds the handshake and the subscription [10s].
	DialTimeout time.Duration
	Waker       *ring.Waker
	Gaps        GapRecorder
	Metrics     *metrics.Set
	Logger      *slog.Logger
	Dialer      *websocket.Dialer // for tests; nil uses a default with DialTimeout
}

// Stream holds one venue stream open over one or more redundant
// connections, each feeding its own rings. It owns all its goroutines.
type Stream struct {
	spec  Spec
	o     StreamOptions
	log   *slog.Logger
	slots []*slot
	live  atomic.Int32 // connections currently subscribed and reading

	// mu guards gapStart and gapCause.
	mu       sync.Mutex
	gapStart time.Time
	gapCause string

	decodeErrLog throttle
	// ctl inspects frames that decoded to no events for the venue's error
	// replies (a rejected subscription stays silent otherwise); nil when
	// the decoder cannot tell.
	ctl         ControlInspector
	venueErrLog throttle
	m           streamMetrics
}

// ConnState is a snapshot of one connection for /status and the status page.
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
	venueErrs                                       *metrics.Counter
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
	if o.Overlap <= 0 {
		o.Overlap = 3 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
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
	s := &Stream{spec: spec, o: o}
	s.log = o.Logger.With("venue", spec.Venue.String(), "stream", spec.Stream)
	s.decodeErrLog.every = 10 * time.Second
	s.venueErrLog.every = 10 * time.Second
	s.ctl, _ = spec.Decoder.(ControlInspector)
	lbl := `{venue="` + spec.Venue.String() + `",stream="` + spec.Stream + `"}`
	set := o.Metrics
	s.m = streamMetrics{
		frames:      set.NewCounter(`liqbox_ingest_frames_total` + lbl),
		bytes:       set.NewCounter(`liqbox_ingest_bytes_total` + lbl),
		decodeErrs:  set.NewCounter(`liqbox_ingest_decode_errors_total` + lbl),
		oversized:   set.NewCounter(`liqbox_ingest_oversized_frames_total` + lbl),
		ringDrops:   set.NewCounter(`liqbox_ring_dropped_total` + lbl),
		venueErrs:   set.NewCounter(`liqbox_ingest_venue_errors_total` + lbl),
		long:        set.NewCounter(`liqbox_ingest_events_total{venue="` + spec.Venue.String() + `",stream="` + spec.Stream + `",side="long"}`),
		short:       set.NewCounter(`liqbox_ingest_events_total{venue="` + spec.Venue.String() + `",stream="` + spec.Stream + `",side="short"}`),
		unknownSide: set.NewCounter(`liqbox_ingest_events_total{venue="` + spec.Venue.String() + `",stream="` + spec.Stream + `",side="unknown"}`),
		backlog:     set.NewCounter(`liqbox_ingest_backlog_events_total` + lbl),
		gapSeconds:  set.NewFloatCounter(`liqbox_ingest_gap_seconds_total` + lbl),
		gaps:        set.NewCounter(`liqbox_ingest_gaps_total` + lbl),
	}
	set.NewGauge(`liqbox_ingest_live_connections`+lbl, func() float64 { return float64(s.live.Load()) })
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

// Live reports how many connections are currently up and subscribed.
func (s *Stream) Live() int { return int(s.live.Load()) }

// States returns a snapshot of every connection slot.
func (s *Stream) States() []ConnState {
	out := make([]ConnState, 0, len(s.slots))
	for _, sl := range s.slots {
		out = append(out, sl.state())
	}
	return out
}

// Run holds the stream's connections open until ctx is cancelled. It
// returns nil on cancellation: connection failures are retried forever,
// counted and recorded as gaps, never returned.
func (s *Stream) Run(ctx context.Context) error {
	s.beginGap(time.Now(), "starting")
	var wg sync.WaitGroup
	for _, sl := range s.slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sl.run(ctx)
		}()
	}
	wg.Wait()
	s.endGap(time.Now(), true)
	return nil
}

// connUp and connDown keep the live count and the gap ledger.
func (s *Stream) connUp(now time.Time) {
	if s.live.Add(1) == 1 {
		s.endGap(now, false)
	}
}

func (s *Stream) connDown(now time.Time, cause string) {
	if s.live.Add(-1) == 0 {
		s.beginGap(now, cause)
	}
}

func (s *Stream) beginGap(now time.Time, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gapStart.IsZero() {
		s.gapStart, s.gapCause = now, cause
	}
}

// endGap closes an open gap. The initial connect at start-up is not a gap
// worth recording (nothing was missed that the box could have seen), unless
// it took long; shutdown closes the gap without recording it.
func (s *Stream) endGap(now time.Time, shutdown bool) {
	s.mu.Lock()
	start, cause := s.gapStart, s.gapCause
	s.gapStart, s.gapCause = time.Time{}, ""
	s.mu.Unlock()
	if start.IsZero() || shutdown {
		return
	}
	d := now.Sub(start)
	if cause == "starting" && d < 30*time.Second {
		return
	}
	s.m.gaps.Inc()
	s.m.gapSeconds.Add(d.Seconds())
	g := Gap{Venue: s.spec.Venue.String(), Stream: s.spec.Stream, Start: start, End: now, Cause: cause}
	s.log.Warn("stream was blind", "from", start.UTC().Format(time.RFC3339), "for", d.Round(time.Millisecond).String(), "cause", cause)
	if s.o.Gaps != nil {
		if err := s.o.Gaps.RecordGap(g); err != nil {
			s.log.Error("cannot record gap", "err", err)
		}
	}
}

// slot is one redundant connection position. At most two connections are
// alive in a slot, only during a planned rotation, each on its own ring.
type slot struct {
	s     *Stream
	idx   int
	rings [2]*ring.Ring
	log   *slog.Logger

	// Atomics read by States and the gauges while the reader writes them.
	connected atomic.Bool
	since     atomic.Int64 // unix ns
	lastFrame atomic.Int64 // unix ns
	rttNs     atomic.Int64
	framesN   atomic.Uint64

	reconnects                   *metrics.Counter
	rcDial, rcRead, rcStale      *metrics.Counter
	rcRotate, rcServer, rcSubErr *metrics.Counter
	rtt                          *metrics.PrometheusHistogram
}

func newSlot(s *Stream, idx int) *slot {
	sl := &slot{s: s, idx: idx, log: s.log.With("conn", idx)}
	sl.rings[0] = ring.New(s.o.RingSize, s.o.Waker)
	sl.rings[1] = ring.New(s.o.RingSize, s.o.Waker)
	base := `venue="` + s.spec.Venue.String() + `",stream="` + s.spec.Stream + `",conn="` + strconv.Itoa(idx) + `"`
	set := s.o.Metrics
	rc := func(cause string) *metrics.Counter {
		return set.NewCounter(`liqbox_ingest_reconnects_total{` + base + `,cause="` + cause + `"}`)
	}
	sl.rcDial, sl.rcRead, sl.rcStale = rc("dial"), rc("read_error"), rc("stale")
	sl.rcRotate, sl.rcServer, sl.rcSubErr = rc("rotation"), rc("server_close"), rc("subscribe")
	sl.reconnects = set.NewCounter(`liqbox_ingest_connects_total{` + base + `}`)
	sl.rtt = set.NewPrometheusHistogramExt(`liqbox_ingest_keepalive_rtt_seconds{`+base+`}`, rttBuckets)
	set.NewGauge(`liqbox_ingest_connected{`+base+`}`, func() float64 {
		if sl.connected.Load() {
			return 1
		}
		return 0
	})
	set.NewGauge(`liqbox_ingest_last_frame_age_seconds{`+base+`}`, func() float64 {
		t := sl.lastFrame.Load()
		if t == 0 {
			return -1
		}
		return float64(time.Now().UnixNano()-t) / 1e9
	})
	set.NewGauge(`liqbox_ring_depth{`+base+`}`, func() float64 {
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

// run keeps one connection alive in this slot, rotating it before the
// venue's cut without a blind moment.
func (sl *slot) run(ctx context.Context) {
	spec := sl.s.spec
	bo := backoff{min: sl.s.o.BackoffMin, max: sl.s.o.BackoffMax}
	ringIdx := 0
	var cur *conn
	defer func() {
		if cur != nil {
			cur.stop()
		}
	}()
	for {
		if cur == nil {
			cur = sl.connect(ctx, ringIdx, &bo)
			if cur == nil {
				return // ctx cancelled
			}
		}
		var rotate <-chan time.Time
		var rotateTimer *time.Timer
		if spec.MaxLifetime > 0 {
			rotateTimer = time.NewTimer(time.Until(cur.started.Add(spec.MaxLifetime)))
			rotate = rotateTimer.C
		}
		stopTimer := func() {
			if rotateTimer != nil {
				rotateTimer.Stop()
			}
		}
		select {
		case <-ctx.Done():
			stopTimer()
			return
		case err := <-cur.done:
			stopTimer()
			cause := classify(err)
			sl.countReconnect(cause)
			cur = nil
			sl.log.Warn("connection lost", "cause", cause, "err", err)
			if sinceUp := time.Since(time.Unix(0, sl.since.Load())); sinceUp > time.Minute {
				bo.reset()
			}
			if !sleepCtx(ctx, bo.next()) {
				return
			}
		case <-rotate:
			stopTimer()
			// Make before break: bring the replacement up on the other ring,
			// let both run for Overlap, then close the old one.
			ringIdx ^= 1
			next := sl.connect(ctx, ringIdx, &bo)
			if next == nil {
				return
			}
			sl.rcRotate.Inc()
			sl.log.Info("rotated connection before the venue's cut", "age", time.Since(cur.started).Round(time.Second).String())
			if !sleepCtx(ctx, sl.s.o.Overlap) {
				next.stop()
				return
			}
			cur.stop()
			cur = next
		}
	}
}

func (sl *slot) countReconnect(cause string) {
	switch cause {
	case "stale":
		sl.rcStale.Inc()
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
func (sl *slot) connect(ctx context.Context, ringIdx int, bo *backoff) *conn {
	for {
		c, err := sl.dial(ctx, ringIdx)
		if err == nil {
			return c
		}
		if ctx.Err() != nil {
			return nil
		}
		sl.log.Warn("cannot connect", "err", err)
		if !sleepCtx(ctx, bo.next()) {
			return nil
		}
	}
}

var errStale = errors.New("no frame within the stale limit")

type errSubscribe struct{ err error }

func (e errSubscribe) Error() string { return "cannot subscribe: " + e.err.Error() }
func (e errSubscribe) Unwrap() error { return e.err }

func (sl *slot) dial(ctx context.Context, ringIdx int) (*conn, error) {
	spec := sl.s.spec
	o := sl.s.o
	dctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	ws, resp, err := o.Dialer.DialContext(dctx, spec.URL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		sl.rcDial.Inc()
		if resp != nil {
			return nil, fmt.Errorf("cannot connect to %s: HTTP %d: %w", spec.Venue, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("cannot connect to %s: %w", spec.Venue, err)
	}
	ws.SetReadLimit(o.MaxFrame)
	if spec.Subscribe != nil {
		msgs, err := spec.Subscribe(dctx)
		if err != nil {
			ws.Close()
			sl.rcSubErr.Inc()
			return nil, errSubscribe{err}
		}
		ws.SetWriteDeadline(time.Now().Add(o.DialTimeout))
		for _, m := range msgs {
			if err := ws.WriteMessage(websocket.TextMessage, m); err != nil {
				ws.Close()
				sl.rcSubErr.Inc()
				return nil, errSubscribe{err}
			}
		}
		ws.SetWriteDeadline(time.Time{})
	}
	c := &conn{
		sl:      sl,
		ws:      ws,
		ring:    sl.rings[ringIdx],
		started: time.Now(),
		done:    make(chan error, 1),
		quit:    make(chan struct{}),
	}
	sl.reconnects.Inc()
	c.start()
	return c, nil
}

// conn is one live WebSocket connection and its reader goroutine.
type conn struct {
	sl      *slot
	ws      *websocket.Conn
	ring    *ring.Ring
	started time.Time
	done    chan error    // the reader's exit error, sent once
	quit    chan struct{} // closed by stop
	wg      sync.WaitGroup
	pingAt  atomic.Int64 // unix ns of the last keepalive sent, 0 if answered
}

func (c *conn) start() {
	sl := c.sl
	now := time.Now()
	sl.connected.Store(true)
	sl.since.Store(now.UnixNano())
	sl.s.connUp(now)
	c.ws.SetReadDeadline(now.Add(c.staleAfter()))
	c.ws.SetPingHandler(func(data string) error {
		// A server ping proves the connection lives even when no
		// liquidation happens for minutes.
		c.touch(time.Now())
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Temporary() {
			return nil
		}
		return err
	})
	c.ws.SetPongHandler(func(string) error {
		now := time.Now()
		c.touch(now)
		c.observeRTT(now)
		return nil
	})
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		err := c.read()
		sl.connected.Store(false)
		sl.s.connDown(time.Now(), classify(err))
		c.done <- err
	}()
	go func() {
		defer c.wg.Done()
		c.keepalive()
	}()
}

// classify names why a connection ended, for the reconnect counters and
// the gap ledger.
func classify(err error) string {
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, errStale):
		return "stale"
	case errors.Is(err, websocket.ErrReadLimit):
		return "oversized_frame"
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		// 1006 is gorilla's name for a connection that ended without a
		// close frame: an abrupt drop, not an orderly server close.
		return "read_error"
	case errors.As(err, &ce):
		return "server_close"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "stale"
	}
	return "read_error"
}

func (c *conn) staleAfter() time.Duration {
	if d := c.sl.s.spec.StaleAfter; d > 0 {
		return d
	}
	return 5 * time.Minute
}

func (c *conn) touch(now time.Time) {
	c.sl.lastFrame.Store(now.UnixNano())
	c.ws.SetReadDeadline(now.Add(c.staleAfter()))
}

func (c *conn) observeRTT(now time.Time) {
	if t := c.pingAt.Swap(0); t != 0 {
		d := now.UnixNano() - t
		c.sl.rttNs.Store(d)
		c.sl.rtt.Update(float64(d) / 1e9)
	}
}

// stop closes the connection and waits for its goroutines. A close frame is
// sent first so the venue sees an orderly goodbye.
func (c *conn) stop() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.ws.Close()
	c.wg.Wait()
	select {
	case <-c.done:
	default:
	}
}

// keepalive sends the venue's application ping, or a WebSocket ping where
// the venue has none, so that a half-open connection is noticed and the
// round-trip is measured.
func (c *conn) keepalive() {
	spec := c.sl.s.spec
	every := spec.PingEvery
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case now := <-t.C:
			c.pingAt.CompareAndSwap(0, now.UnixNano())
			var err error
			if spec.Ping != nil {
				c.ws.SetWriteDeadline(now.Add(5 * time.Second))
				err = c.ws.WriteMessage(websocket.TextMessage, spec.Ping)
			} else {
				err = c.ws.WriteControl(websocket.PingMessage, nil, now.Add(5*time.Second))
			}
			if err != nil {
				// The reader sees the broken connection too and ends it.
				return
			}
		}
	}
}

// read is the hot loop: frame into a reused buffer, decode into a reused
// slice, push into the ring. It allocates nothing per frame once the
// buffers have grown to the largest frame seen.
func (c *conn) read() error {
	sl := c.sl
	s := sl.s
	spec := s.spec
	m := &s.m
	buf := make([]byte, 0, 16<<10)
	evs := make([]event.Event, 0, 64)
	subscribed := time.Now()
	backlogUntil := int64(0)
	if spec.BacklogWindow > 0 {
		backlogUntil = subscribed.Add(spec.BacklogWindow).UnixNano()
	}
	subscribedMs := subscribed.UnixMilli()
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			select {
			case <-c.quit:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%w (%s): %v", errStale, c.staleAfter(), err)
			}
			return err
		}
		buf, err = readAll(buf[:0], r)
		if err != nil {
			return err
		}
		now := time.Now()
		recvNs := now.UnixNano()
		c.touch(now)
		sl.framesN.Add(1)
		m.frames.Inc()
		m.bytes.Add(len(buf))
		if mt != websocket.TextMessage && mt != websocket.BinaryMessage {
			continue
		}
		if spec.IsPong != nil && spec.IsPong(buf) {
			c.observeRTT(now)
			continue
		}
		evs, err = spec.Decoder.Decode(evs[:0], buf, recvNs)
		if err != nil {
			// A frame with several liquidations keeps its good ones:
			// count the bad one and carry on with what decoded.
			m.decodeErrs.Inc()
			if s.decodeErrLog.allow(now) {
				sl.log.Warn("cannot decode frame", "err", err, "kept", len(evs), "first_bytes", firstBytes(buf, 120),
					"suppressed", s.decodeErrLog.takeSuppressed())
			}
			if len(evs) == 0 {
				continue
			}
		}
		if len(evs) == 0 && s.ctl != nil {
			c.inspectControl(buf, now)
			continue
		}
		for i := range evs {
			ev := &evs[i]
			ev.Conn = uint8(sl.idx)
			if recvNs < backlogUntil && ev.TimeMs < subscribedMs {
				ev.Flags |= event.FlagBacklog
				m.backlog.Inc()
			}
			switch ev.Side {
			case event.Long:
				m.long.Inc()
			case event.Short:
				m.short.Inc()
			default:
				m.unknownSide.Inc()
			}
			if !c.ring.Push(ev) {
				m.ringDrops.Inc()
			}
		}
	}
}

// inspectControl counts and logs (throttled) a venue's error reply. It runs
// only for frames that carried no liquidation, so the allocation of the
// message copy stays off the hot path.
func (c *conn) inspectControl(frame []byte, now time.Time) {
	s := c.sl.s
	isErr, msg := s.ctl.Control(frame)
	if !isErr {
		return
	}
	s.m.venueErrs.Inc()
	if s.venueErrLog.allow(now) {
		c.sl.log.Warn("venue replied with an error", "msg", msg, "suppressed", s.venueErrLog.takeSuppressed())
	}
}

// readAll reads r to EOF into buf, growing it as needed, and returns it.
// Unlike io.ReadAll it reuses the caller's buffer across frames.
func readAll(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// firstBytes returns a printable prefix of a bad frame for the log.
func firstBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

// backoff is exponential with jitter (a random half of each step), so that many boxes (or many
// connections) that lost a venue together do not reconnect in lockstep.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur *= 2
		if b.cur > b.max {
			b.cur = b.max
		}
	}
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }

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

// throttle lets one log line through per period and counts the rest.
type throttle struct {
	every      time.Duration
	mu         sync.Mutex // guards last and suppressed
	last       time.Time
	suppressed int
}

func (t *throttle) allow(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.last) < t.every {
		t.suppressed++
		return false
	}
	t.last = now
	return true
}

func (t *throttle) takeSuppressed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.suppressed
	t.suppressed = 0
	return n
}
