package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/retry"
	"github.com/liqbox/liqbox/ring"
)

// Causes of a connection's end and of a gap, besides the classified
// network ones ("read_error", "server_close", "oversized_frame").
const (
	// CauseStale: the connection delivered nothing for StaleAfter, or its
	// canary stopped for Canary.After although it answered pings.
	CauseStale = "stale"
	// CauseMissedEvents: a redundant connection kept missing liquidations
	// its siblings delivered, and was replaced.
	CauseMissedEvents = "missed_events"
	// CauseVenueRequest: the venue asked for a new connection (Spec.Respond),
	// e.g. Bitfinex before a server restart or after maintenance.
	CauseVenueRequest = "venue_request"
	// CauseStarting: the start-up connect (recorded only past 30 s).
	CauseStarting = "starting"
	// CauseNotRunning and CauseCrashed are the service's causes for its own
	// downtime (StreamOptions.DownCause).
	CauseNotRunning = "liqbox not running"
	CauseCrashed    = "liqbox crashed"
	causeStopped    = "stopped"
)

var errStale = errors.New("no frame within the stale limit")

type errSubscribe struct{ err error }

func (e errSubscribe) Error() string { return "cannot subscribe: " + e.err.Error() }
func (e errSubscribe) Unwrap() error { return e.err }

// errKilled ends a connection the stream gave up on although the socket
// was fine: a silent canary, or events missed that its siblings got.
type errKilled struct{ cause, why string }

func (e *errKilled) Error() string { return e.why }

func (sl *slot) dial(ctx context.Context, ringIdx int) (*conn, error) {
	spec := sl.s.spec
	o := sl.s.o
	dctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	ws, resp, err := o.Dialer.DialContext(dctx, spec.URL, spec.Header)
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
	var msgs [][]byte
	if spec.Subscribe != nil {
		if msgs, err = spec.Subscribe(dctx); err != nil {
			ws.Close()
			sl.rcSubErr.Inc()
			return nil, errSubscribe{err}
		}
	}
	if spec.Canary != nil && spec.Canary.Subscribe != nil {
		msgs = append(msgs[:len(msgs):len(msgs)], spec.Canary.Subscribe)
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
	c := &conn{
		sl:        sl,
		ws:        ws,
		ring:      sl.rings[ringIdx],
		dec:       spec.Decoder,
		started:   time.Now(),
		done:      make(chan error, 1),
		quit:      make(chan struct{}),
		alive:     make(chan struct{}),
		rotateNow: make(chan struct{}, 1),
	}
	if spec.NewConnDecoder != nil {
		c.dec = spec.NewConnDecoder()
	}
	if spec.Inflate != nil {
		c.inf = spec.Inflate()
	}
	// A connection is held to its subscription from the moment it was
	// sent: a canary that never arrives is as dead as one that stopped.
	c.lastProof.Store(c.started.UnixNano())
	if spec.BacklogWindow > 0 {
		c.backlogUntil = c.started.Add(spec.BacklogWindow).UnixNano()
	}
	if len(sl.s.slots) > 1 && !spec.RecvTime {
		c.keys = new(keyRing)
	}
	sl.reconnects.Inc()
	sl.since.Store(c.started.UnixNano())
	sl.cur.Store(c)
	c.start()
	return c, nil
}

// Connection states.
const (
	connPending int32 = iota // subscribed, not yet proven
	connLive                 // proven by a frame (with a canary: a canary frame or a liquidation)
	connDown                 // ended, or given up on
)

// conn is one WebSocket connection with its reader and watchdog goroutines.
type conn struct {
	sl      *slot
	ws      *websocket.Conn
	ring    *ring.Ring
	dec     Decoder // Spec.Decoder, or this connection's own (Spec.NewConnDecoder)
	started time.Time
	done    chan error    // the reader's exit error, sent once
	quit    chan struct{} // closed by stop
	alive   chan struct{} // closed when the connection goes live
	// rotateNow gets a value when the venue announces a cut of this
	// connection (Spec.Respond's Rotate); the slot rotates it.
	rotateNow chan struct{}
	wg        sync.WaitGroup

	state     atomic.Int32
	lastProof atomic.Int64 // unix ns of the last canary frame or liquidation, or of the subscription
	liveSince atomic.Int64 // unix ns
	pingAt    atomic.Int64 // unix ns of the last keepalive sent, 0 if answered
	killed    atomic.Pointer[errKilled]
	keys      *keyRing // the liquidations delivered, for the sibling check; nil without siblings

	// Owned by the reader: the inflater (Spec.Inflate; nil when frames
	// come uncompressed), the buffer it inflates into and the buffer
	// Spec.Respond's answers are built in, all reused frame after frame.
	inf   Inflater
	plain []byte
	reply []byte

	// wmu serialises data-frame writes: the watchdog's keepalive and the
	// reader's answers to the venue's keepalive. gorilla allows one
	// concurrent writer; control frames (pongs, close) need no lock.
	wmu sync.Mutex

	// backlogUntil: events older than the subscription that arrive before
	// this (unix ns) are the venue's replay (Spec.BacklogWindow).
	backlogUntil int64

	// Owned by the stream's monitor (the sibling check).
	judgedTo int64
	missRun  int
}

func (c *conn) start() {
	now := time.Now()
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
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	c.ws.SetPongHandler(func(string) error {
		now := time.Now()
		c.touch(now)
		c.observeRTT(now)
		if c.sl.s.spec.Canary == nil {
			c.markLive(now)
		}
		return nil
	})
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		err := c.read()
		now := time.Now()
		from, cause := now, c.cause(err)
		if cause == CauseStale && err != nil {
			// Blind since the last frame, not since the deadline fired.
			from = time.Unix(0, c.sl.lastFrame.Load())
		}
		c.markDown(from, cause)
		c.done <- err
	}()
	go func() {
		defer c.wg.Done()
		c.watch()
	}()
}

// markLive records the connection's first proof of life: the slot is
// connected, the stream's gap (if any) ends, the backoff resets.
func (c *conn) markLive(now time.Time) {
	// A plain load first: this runs for every frame, and all but the
	// first find the connection live already.
	if c.state.Load() != connPending || !c.state.CompareAndSwap(connPending, connLive) {
		return
	}
	c.liveSince.Store(now.UnixNano())
	c.sl.s.connUp(c.sl, now)
	close(c.alive)
}

// markDown takes the connection out of the live count; from is when it
// stopped being trustworthy (the start of any gap it leaves).
func (c *conn) markDown(from time.Time, cause string) {
	if c.state.Swap(connDown) != connLive {
		return
	}
	c.sl.s.connDown(c.sl, from, cause)
}

// kill gives up on a connection whose socket is fine: it is marked down at
// once (from: since when it was not trustworthy) and closed; its reader
// then ends it with err.
func (c *conn) kill(from time.Time, err *errKilled) {
	if !c.killed.CompareAndSwap(nil, err) {
		return
	}
	c.markDown(from, err.cause)
	c.ws.Close()
}

// cause names why the connection ended, for the reconnect counters and the
// gap ledger.
func (c *conn) cause(err error) string {
	if k := c.killed.Load(); k != nil {
		return k.cause
	}
	if err == nil {
		return causeStopped
	}
	return classify(err)
}

// classify names a network failure.
func classify(err error) string {
	var ce *websocket.CloseError
	var ke *errKilled
	switch {
	case errors.As(err, &ke):
		return ke.cause
	case errors.Is(err, errStale):
		return CauseStale
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
		return CauseStale
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

// watch sends the keepalive (the venue's application ping, or a WebSocket
// ping where it has none) once right after subscribing, so that the
// round-trip is known at once and a venue that acknowledges nothing still
// proves the connection, and then every PingEvery; and it gives up on the
// connection when its canary has been silent for Canary.After.
func (c *conn) watch() {
	spec := c.sl.s.spec
	if !c.ping(time.Now()) {
		return
	}
	var pingC, canaryC <-chan time.Time
	if spec.PingEvery > 0 {
		t := time.NewTicker(spec.PingEvery)
		defer t.Stop()
		pingC = t.C
	}
	if spec.Canary != nil && spec.Canary.After > 0 {
		t := time.NewTicker(canaryCheckEvery(spec.Canary.After))
		defer t.Stop()
		canaryC = t.C
	}
	for {
		select {
		case <-c.quit:
			return
		case now := <-pingC:
			if !c.ping(now) {
				return // the reader sees the broken connection too and ends it
			}
		case now := <-canaryC:
			last := c.lastProof.Load()
			if silent := now.UnixNano() - last; silent > int64(spec.Canary.After) {
				why := fmt.Sprintf("canary silent for %v (limit %v)", time.Duration(silent).Round(time.Millisecond), spec.Canary.After)
				if c.state.Load() == connPending {
					why = fmt.Sprintf("canary never arrived within %v of subscribing: the venue may have refused %v", spec.Canary.After, spec.Canary.Symbols)
				}
				c.kill(time.Unix(0, last), &errKilled{cause: CauseStale, why: why})
				return
			}
		}
	}
}

// canaryCheckEvery is how often a canary's silence is checked: a tenth of
// its limit, between 20 ms and half a second.
func canaryCheckEvery(after time.Duration) time.Duration {
	return min(max(after/10, 20*time.Millisecond), 500*time.Millisecond)
}

func (c *conn) ping(now time.Time) bool {
	spec := c.sl.s.spec
	c.pingAt.CompareAndSwap(0, now.UnixNano())
	var err error
	if spec.Ping != nil {
		err = c.write(spec.Ping, now)
	} else {
		err = c.ws.WriteControl(websocket.PingMessage, nil, now.Add(5*time.Second))
	}
	return err == nil
}

// write sends one text frame, serialised with the connection's other
// data-frame writes.
func (c *conn) write(msg []byte, now time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(now.Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

// read is the hot loop: frame into a reused buffer, then frame. It
// allocates nothing per frame once the buffers have grown to the largest
// frame seen.
func (c *conn) read() error {
	buf := make([]byte, 0, 16<<10)
	evs := make([]event.Event, 0, 64)
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			select {
			case <-c.quit:
				return nil
			default:
			}
			if k := c.killed.Load(); k != nil {
				return k
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("%w (%s): %v", errStale, c.staleAfter(), err)
			}
			return err
		}
		buf, err = readAll(buf[:0], r)
		if err != nil {
			if k := c.killed.Load(); k != nil {
				return k
			}
			return err
		}
		now := time.Now()
		c.touch(now)
		evs = c.frame(mt, buf, evs, now)
	}
}

// frame handles one frame received at now: canary frames are counted and
// dropped, the rest decoded into evs (returned for reuse) and pushed into
// the ring.
func (c *conn) frame(mt int, buf []byte, evs []event.Event, now time.Time) []event.Event {
	sl := c.sl
	s := sl.s
	spec := &s.spec
	m := &s.m
	recvNs := now.UnixNano()
	sl.framesN.Add(1)
	m.frames.Inc()
	m.bytes.Add(len(buf))
	if mt != websocket.TextMessage && mt != websocket.BinaryMessage {
		return evs
	}
	if c.inf != nil && mt == websocket.BinaryMessage {
		plain, err := c.inf.Inflate(c.plain[:0], buf)
		c.plain = plain
		if err != nil {
			// A frame that does not inflate is a frame that does not
			// decode: counted, logged with its first bytes, nothing lost
			// but that frame.
			s.decoded.Add(1)
			m.decodeErrs.Inc()
			if n, ok := s.decodeErrLog.Allow(now); ok {
				sl.log.Warn("cannot decode frame", "err", err, "first_bytes", firstBytes(buf, 120, spec.Secret),
					"suppressed", n)
			}
			return evs
		}
		buf = plain
	}
	if canary := spec.Canary; canary != nil {
		if canary.Match(buf) {
			m.canaryFrames.Inc()
			c.lastProof.Store(recvNs)
			c.markLive(now)
			return evs
		}
	} else {
		c.markLive(now)
	}
	if spec.IsPong != nil && spec.IsPong(buf) {
		c.observeRTT(now)
		return evs
	}
	if spec.Respond != nil && c.respond(buf, now) {
		return evs
	}
	s.decoded.Add(1)
	dec := c.dec
	if dec == nil {
		dec = spec.Decoder
	}
	evs, err := dec.Decode(evs[:0], buf, recvNs)
	if err != nil {
		// A frame with several liquidations keeps its good ones: count
		// the bad one and carry on with what decoded.
		m.decodeErrs.Inc()
		if n, ok := s.decodeErrLog.Allow(now); ok {
			sl.log.Warn("cannot decode frame", "err", err, "kept", len(evs), "first_bytes", firstBytes(buf, 120, spec.Secret),
				"suppressed", n)
		}
		if len(evs) == 0 {
			return evs
		}
	}
	if len(evs) == 0 {
		if s.ctl != nil {
			c.inspectControl(buf, now)
		}
		return evs
	}
	// A liquidation proves the subscription as well as a canary does.
	c.lastProof.Store(recvNs)
	c.markLive(now)
	for i := range evs {
		ev := &evs[i]
		ev.Conn = spec.ConnBase + uint8(sl.idx)
		if recvNs < c.backlogUntil && ev.TimeMs < c.started.UnixMilli() {
			ev.Flags |= event.FlagBacklog
			m.backlog.Inc()
		} else if c.keys != nil {
			c.keys.add(ev.Key(), recvNs)
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
	return evs
}

// respond does what a control message asks (Spec.Respond): it writes the
// answer at once, or replaces the connection. It reports whether the frame
// was such a message, which is then not decoded.
func (c *conn) respond(frame []byte, now time.Time) bool {
	spec := &c.sl.s.spec
	reply, r := spec.Respond(c.reply[:0], frame)
	switch r {
	case Reply:
		c.reply = reply
		// A failed write breaks the connection, which the reader sees on
		// its next read and ends.
		_ = c.write(reply, now)
	case Reconnect:
		c.kill(now, &errKilled{cause: CauseVenueRequest, why: "the venue asked for a new connection: " + firstBytes(frame, 80, spec.Secret)})
	case Rotate:
		select {
		case c.rotateNow <- struct{}{}:
		default: // already asked: one rotation serves every notice
		}
	default:
		return false
	}
	return true
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
	if n, ok := s.venueErrLog.Allow(now); ok {
		c.sl.log.Warn("venue replied with an error", "msg", redact(msg, s.spec.Secret), "suppressed", n)
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

// firstBytes returns a printable prefix of a bad frame for the log, with
// secret (when set) masked before the frame is cut, so no part of it shows.
func firstBytes(b []byte, n int, secret string) string {
	if secret != "" && bytes.Contains(b, []byte(secret)) {
		b = bytes.ReplaceAll(b, []byte(secret), []byte(redacted))
	}
	if len(b) > n {
		b = b[:n]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

// redacted stands for a secret in what the stream logs.
const redacted = "[redacted]"

// redact masks secret (when set) in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, redacted)
}

// backoff spaces reconnect attempts. After reset (a connection proved
// alive) the first delay is immediate but for a jitter of at most min/4;
// the following ones grow from min, doubling up to max, each jittered into
// its upper half, so that many boxes (or many connections) that lost a
// venue together do not reconnect in lockstep.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
	tries    int
}

func (b *backoff) next() time.Duration {
	b.tries++
	if b.tries == 1 {
		return rand.N(b.min/4 + 1)
	}
	b.cur = retry.Backoff(b.cur, b.min, b.max)
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur, b.tries = 0, 0 }
