// Package ingesttest is the stand-in exchange of liqbox's tests, `liqbox
// demo` and `liqbox bench`: a WebSocket server on 127.0.0.1 that plays
// frames to connected clients, serves each venue's canary stream, answers
// keepalives, and misbehaves on purpose (abrupt close, silence, a silent
// canary, a drop after a few frames, a stalled handshake) so that the real
// ingest client can be proven to recover. A per-connection script
// (LoopbackOptions.OnConnect) plays what one venue does on one connection,
// so that venue-specific tests need no WebSocket server of their own.
// Beside it are the frame encoders of every venue (frames.go), the one set
// that tests, demo and bench build frames with.
package ingesttest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Loopback is a WebSocket exchange on 127.0.0.1 that plays frames to every
// connected client.
//
// It serves the canary stream of any venue a client subscribes to (Binance
// and Aster `<sym>@markPrice@1s`, Bybit `tickers.<SYM>`, OKX `mark-price`,
// BitMEX `instrument:<SYM>`, Deribit `deribit_price_index.<index>`, Kraken
// Futures' heartbeat feed, HTX `public.<code>.funding_rate`, Gate
// `futures.tickers`; by message or in the URL), pushing a fresh canary
// frame at once and then every CanaryEvery, as a real exchange pushes a
// steady public stream: a client that watches its canary stays connected
// to a loopback exchange exactly as it would to the venue.
type Loopback struct {
	ln  net.Listener
	srv *http.Server
	o   LoopbackOptions

	mu      sync.Mutex // guards clients and order
	clients map[*loopClient]struct{}
	order   []*loopClient // connected clients, oldest first

	refuse       atomic.Bool
	silent       atomic.Bool
	canarySilent atomic.Bool
	accepted     atomic.Int64
	sent         atomic.Int64
	canarySent   atomic.Int64
	dropped      atomic.Int64
	slowKick     atomic.Int64
	answered     atomic.Int64 // heartbeats answered
	hbKicks      atomic.Int64 // clients cut off for unanswered heartbeats
	pongs        atomic.Int64 // pongs received
	strayPongs   atomic.Int64 // pongs that echo no ping this exchange sent
	stall        atomic.Bool
	stalled      atomic.Int64 // handshakes left unanswered by StallHandshake

	quit     chan struct{} // closed by Close: ends stalled handshakes
	quitOnce sync.Once

	hmu        sync.Mutex // guards lastHeader
	lastHeader http.Header
}

// LoopbackOptions configure a Loopback.
type LoopbackOptions struct {
	// Path is the URL path clients connect to, e.g. "/market/stream".
	Path string
	// PingEvery makes the server send WebSocket pings, as Binance does.
	PingEvery time.Duration
	// Queue is how many frames may wait per client before the server
	// disconnects it as too slow, as real exchanges do [65536].
	Queue int
	// OnMessage, if set, gets every message a client sends (subscribe
	// requests, application pings) and returns frames to send back.
	// VenueAnswer(v) is each venue's own.
	OnMessage func(msg []byte) [][]byte
	// CanaryEvery is the period of canary pushes; zero takes each venue's
	// own cadence (Binance 1 s, Bybit 100 ms, OKX 200 ms, BitMEX 1 s,
	// Deribit 1 s, Kraken Futures 10 s, HTX 60 s, Gate 1 s).
	CanaryEvery time.Duration
	// NoCanary makes the exchange ignore canary subscriptions: it never
	// pushes one, as a venue that dropped the stream would.
	NoCanary bool
	// DropAfter closes each connection abruptly (no close frame) once it
	// has been sent this many text frames, canary frames included: a venue
	// that accepts and then drops. Zero never drops.
	DropAfter int
	// Gzip compresses every frame the exchange sends (data, replies,
	// canary, heartbeat) into one gzip member and sends it as a binary
	// frame, as HTX does.
	Gzip bool
	// Heartbeat, when set, is the application heartbeat the exchange
	// sends every HeartbeatEvery (HTX: {"op":"ping","ts":"…"} every 5 s).
	// A client that leaves HeartbeatMisses of them in a row unanswered
	// (IsHeartbeatReply) is sent Farewell and disconnected, as HTX closes
	// a connection after five. HeartbeatEvery zero or negative: none.
	Heartbeat        func(now time.Time) []byte
	HeartbeatEvery   time.Duration
	HeartbeatMisses  int
	IsHeartbeatReply func(msg []byte) bool
	Farewell         []byte
	// PingPayload, if set, gives the payload of the n-th WebSocket ping
	// (0 first) the exchange sends a connection; nil sends "lb". Venues
	// put a counter or a time in their pings and a client must echo it:
	// a distinct payload per ping lets Pongs and StrayPongs tell an echo
	// from a stale or made-up pong.
	PingPayload func(n int) []byte
	// OnConnect, if set, runs once per accepted connection, before the
	// connection's first message is read, with a handle on it (Conn); the
	// handler it returns, if not nil, gets every message of that
	// connection after OnMessage. It scripts what a stateless OnMessage
	// cannot: a venue that acts on the request URL, acks only the first
	// subscription, answers the first ping differently from the next, or
	// cuts the first connection and serves the second in full. With it
	// the venue-specific tests run on this one exchange instead of
	// WebSocket servers of their own. OnConnect and the handler run on
	// the connection's reader, one call at a time, so the handler's own
	// state needs no lock; neither may block, as nothing is read
	// meanwhile.
	OnConnect func(c *Conn) func(msg []byte)
	// CloseWait is how long a connection the exchange closed (Conn.Close)
	// waits for the client's close echo before it is cut [2 s].
	CloseWait time.Duration
}

// Conn is one client connection of a Loopback, as an OnConnect script
// sees it. Everything it sends goes through the connection's one writer,
// in the order sent, among the exchange's own frames (canary, heartbeat,
// replies); its methods may be called from any goroutine.
type Conn struct {
	l   *Loopback
	c   *loopClient
	idx int
	req *http.Request
}

// Index is the connection's place among all the exchange ever accepted,
// 0 for the first: a script tells a first connection from a reconnect.
func (c *Conn) Index() int { return c.idx }

// Request is the handshake request (URL, headers); it must not be
// modified.
func (c *Conn) Request() *http.Request { return c.req }

// Send queues a text frame (gzipped and binary with Gzip), as Broadcast
// does for this connection only. frame must not be modified afterwards.
func (c *Conn) Send(frame []byte) { c.l.sendTo(c.c, frame) }

// Ping queues a WebSocket ping carrying payload (at most 125 bytes), as
// Binance pings right after the handshake; the client's pong is counted
// by Pongs.
func (c *Conn) Ping(payload []byte) {
	c.l.queue(c.c, outFrame{op: wsPing, p: payload})
}

// Close queues a close frame with code and text after everything queued
// before it, as a venue ends a connection (Binance's 1001 at 24 h): no
// frame follows it, the client's close echo ends the connection, and so
// does CloseWait without one. A close handshake, unlike DropAll, lets the
// frames in flight arrive.
func (c *Conn) Close(code int, text string) {
	c.l.queue(c.c, outFrame{op: wsClose, p: websocket.FormatCloseMessage(code, text)})
}

// outFrame is one entry of a client's queue: a text payload (op 0, the
// frames of Broadcast, SendTo, replies and scripts) or a control frame a
// script queued in order with them (op wsPing or wsClose).
type outFrame struct {
	p  []byte
	op byte
}

type loopClient struct {
	ws     *websocket.Conn
	out    chan outFrame
	ctrl   chan []byte // pongs, written by the writer so frames never interleave
	canary chan canarySub
	done   chan struct{}
	once   sync.Once
	// unanswered counts the heartbeats sent since the client last
	// answered one.
	unanswered atomic.Int32
	// closing is set once the exchange queued a close frame (Conn.Close):
	// nothing is written after it, and the client's close echo is not
	// answered again.
	closing atomic.Bool

	pmu   sync.Mutex // guards pings
	pings [8]string  // payloads of the latest pings sent, a ring
	np    int        // pings sent
}

// pinged records that a ping with payload p was sent.
func (c *loopClient) pinged(p []byte) {
	c.pmu.Lock()
	c.pings[c.np%len(c.pings)] = string(p)
	c.np++
	c.pmu.Unlock()
}

// echoes reports whether a pong payload s is that of one of the latest
// pings sent.
func (c *loopClient) echoes(s string) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	for i := 0; i < len(c.pings) && i < c.np; i++ {
		if c.pings[i] == s {
			return true
		}
	}
	return false
}

// NewLoopback listens on 127.0.0.1 at a free port and serves.
func NewLoopback(o LoopbackOptions) (*Loopback, error) {
	if o.Path == "" {
		o.Path = "/"
	}
	if o.Queue <= 0 {
		o.Queue = 65536
	}
	if o.CloseWait <= 0 {
		o.CloseWait = 2 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &Loopback{ln: ln, o: o, clients: map[*loopClient]struct{}{}, quit: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc(o.Path, l.serveWS)
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go l.srv.Serve(ln)
	return l, nil
}

// URL returns the ws:// URL for path (with any query), e.g.
// URL("/market/stream?streams=!forceOrder@arr").
func (l *Loopback) URL(pathAndQuery string) string {
	return "ws://" + l.ln.Addr().String() + pathAndQuery
}

// Addr is the listening address.
func (l *Loopback) Addr() string { return l.ln.Addr().String() }

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 64 << 10}

func (l *Loopback) serveWS(w http.ResponseWriter, r *http.Request) {
	if l.refuse.Load() {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	if l.stall.Load() {
		// The request was read; the answer never comes. The client's own
		// handshake timeout ends the connection.
		l.stalled.Add(1)
		select {
		case <-r.Context().Done():
		case <-l.quit:
		}
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	l.hmu.Lock()
	l.lastHeader = r.Header.Clone()
	l.hmu.Unlock()
	c := &loopClient{ws: ws, out: make(chan outFrame, l.o.Queue), ctrl: make(chan []byte, 4),
		canary: make(chan canarySub, 8), done: make(chan struct{})}
	// The writer owns every byte written to the connection; gorilla's own
	// ping handler would write a pong concurrently with it.
	ws.SetPingHandler(func(data string) error {
		select {
		case c.ctrl <- appendWSFrame(nil, wsPong, []byte(data)):
		default:
		}
		return nil
	})
	ws.SetPongHandler(func(data string) error {
		l.pongs.Add(1)
		if !c.echoes(data) {
			l.strayPongs.Add(1)
		}
		return nil
	})
	// Gorilla echoes a close frame itself, beside the writer; once the
	// exchange sent its own close (Conn.Close) the client's frame is the
	// echo, which is not answered.
	echoClose := ws.CloseHandler()
	ws.SetCloseHandler(func(code int, text string) error {
		if c.closing.Load() {
			return nil
		}
		return echoClose(code, text)
	})
	l.mu.Lock()
	l.clients[c] = struct{}{}
	l.order = append(l.order, c)
	l.mu.Unlock()
	idx := int(l.accepted.Add(1) - 1)
	defer func() {
		l.mu.Lock()
		delete(l.clients, c)
		for i, o := range l.order {
			if o == c {
				l.order = append(l.order[:i], l.order[i+1:]...)
				break
			}
		}
		l.mu.Unlock()
		c.close()
	}()
	combined := combinedPath(r.URL.Path)
	for _, sub := range canariesInURL(r.URL) {
		l.addCanary(c, sub)
	}
	go l.writer(c)
	var script func(msg []byte)
	if l.o.OnConnect != nil {
		script = l.o.OnConnect(&Conn{l: l, c: c, idx: idx, req: r})
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if l.o.IsHeartbeatReply != nil && l.o.IsHeartbeatReply(msg) {
			c.unanswered.Store(0)
			l.answered.Add(1)
		}
		if l.o.OnMessage != nil {
			for _, f := range l.o.OnMessage(msg) {
				l.sendTo(c, f)
			}
		}
		if script != nil {
			script(msg)
		}
		for _, sub := range canariesIn(msg, combined) {
			l.addCanary(c, sub)
		}
	}
}

func (l *Loopback) addCanary(c *loopClient, sub canarySub) {
	if l.o.NoCanary {
		return
	}
	select {
	case c.canary <- sub:
	default: // more canaries than any client asks for: ignore the rest
	}
}

func (c *loopClient) close() {
	c.once.Do(func() {
		close(c.done)
		c.ws.Close()
	})
}

// writer sends the client's frames. It writes WebSocket frames itself into
// a buffer and flushes when its queue is empty, so a burst costs one write
// system call per batch instead of one per frame: on a 2-core box the
// per-frame writes of this stand-in exchange took more CPU than liqbox
// itself, which a real exchange on another machine never does.
func (l *Loopback) writer(c *loopClient) {
	var ping <-chan time.Time
	if l.o.PingEvery > 0 {
		t := time.NewTicker(l.o.PingEvery)
		defer t.Stop()
		ping = t.C
	}
	var heartbeat <-chan time.Time
	if l.o.Heartbeat != nil && l.o.HeartbeatEvery > 0 {
		t := time.NewTicker(l.o.HeartbeatEvery)
		defer t.Stop()
		heartbeat = t.C
	}
	var canaries []canarySub
	var canaryTick <-chan time.Time
	var canaryTicker *time.Ticker
	defer func() {
		if canaryTicker != nil {
			canaryTicker.Stop()
		}
	}()
	nc := c.ws.NetConn()
	bw := bufio.NewWriterSize(nc, 64<<10)
	var hdr []byte
	texts := 0
	var zbuf bytes.Buffer
	var zw *gzip.Writer
	// put queues one text frame (gzipped and binary with Gzip); false
	// once DropAfter frames went out.
	put := func(p []byte) bool {
		if l.o.DropAfter > 0 && texts >= l.o.DropAfter || c.closing.Load() {
			return false
		}
		op := byte(wsText)
		if l.o.Gzip {
			zbuf.Reset()
			if zw == nil {
				zw = gzip.NewWriter(&zbuf)
			} else {
				zw.Reset(&zbuf)
			}
			zw.Write(p)
			zw.Close()
			p, op = zbuf.Bytes(), wsBinary
		}
		hdr = appendWSHeader(hdr[:0], op, len(p))
		bw.Write(hdr)
		bw.Write(p)
		texts++
		return true
	}
	// putFrame queues one entry of the client's queue and reports
	// whether it was a text frame that went out.
	pings := 0
	putFrame := func(f outFrame) bool {
		switch f.op {
		case wsPing:
			if c.closing.Load() {
				return false
			}
			c.pinged(f.p)
			hdr = appendWSFrame(hdr[:0], wsPing, f.p)
			bw.Write(hdr)
			return false
		case wsClose:
			if !c.closing.Swap(true) {
				hdr = appendWSFrame(hdr[:0], wsClose, f.p)
				bw.Write(hdr)
				nc.SetReadDeadline(time.Now().Add(l.o.CloseWait))
			}
			return false
		}
		return put(f.p)
	}
	flush := func() bool {
		nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := bw.Flush(); err != nil {
			c.close()
			return false
		}
		if l.o.DropAfter > 0 && texts >= l.o.DropAfter {
			l.dropped.Add(1)
			c.close() // abrupt: no close frame
			return false
		}
		return true
	}
	pushCanaries := func(now time.Time) bool {
		if l.silent.Load() || l.canarySilent.Load() {
			return true
		}
		for _, sub := range canaries {
			if !put(sub.frame(now)) {
				break
			}
			l.canarySent.Add(1)
		}
		return flush()
	}
	for {
		select {
		case <-c.done:
			return
		case f := <-c.out:
			if l.silent.Load() {
				continue
			}
			n := int64(0)
			if putFrame(f) {
				n++
			}
			for more := true; more; {
				select {
				case f = <-c.out:
					if putFrame(f) {
						n++
					}
				default:
					more = false
				}
			}
			l.sent.Add(n)
			if !flush() {
				return
			}
		case f := <-c.ctrl:
			if l.silent.Load() || c.closing.Load() {
				continue
			}
			bw.Write(f)
			if !flush() {
				return
			}
		case sub := <-c.canary:
			canaries = append(canaries, sub)
			every := l.o.CanaryEvery
			if every <= 0 {
				every = sub.every
			}
			if canaryTicker == nil {
				canaryTicker = time.NewTicker(every)
				canaryTick = canaryTicker.C
			}
			// The first push follows the subscription at once, as venues
			// send a snapshot when a stream is subscribed.
			if !pushCanaries(time.Now()) {
				return
			}
		case now := <-canaryTick:
			if !pushCanaries(now) {
				return
			}
		case now := <-heartbeat:
			if l.silent.Load() {
				continue
			}
			if n := int(c.unanswered.Add(1)); l.o.HeartbeatMisses > 0 && n > l.o.HeartbeatMisses {
				l.hbKicks.Add(1)
				if l.o.Farewell != nil {
					put(l.o.Farewell)
				}
				flush()
				c.close()
				return
			}
			put(l.o.Heartbeat(now))
			if !flush() {
				return
			}
		case <-ping:
			if l.silent.Load() || c.closing.Load() {
				continue
			}
			p := []byte("lb")
			if l.o.PingPayload != nil {
				p = l.o.PingPayload(pings)
			}
			pings++
			c.pinged(p)
			hdr = appendWSFrame(hdr[:0], wsPing, p)
			bw.Write(hdr)
			if !flush() {
				return
			}
		}
	}
}

// WebSocket opcodes the loopback exchange writes.
const (
	wsText   = 0x1
	wsBinary = 0x2
	wsClose  = 0x8
	wsPing   = 0x9
	wsPong   = 0xA
)

// appendWSFrame appends an unmasked (server-to-client) final frame
// carrying p.
func appendWSFrame(dst []byte, op byte, p []byte) []byte {
	return append(appendWSHeader(dst, op, len(p)), p...)
}

// appendWSHeader appends the header of an unmasked final frame with an
// n-byte payload.
func appendWSHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n < 1<<16:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return dst
}

func (l *Loopback) sendTo(c *loopClient, frame []byte) {
	l.queue(c, outFrame{p: frame})
}

// queue puts f on c's queue, or disconnects c when it is full.
func (l *Loopback) queue(c *loopClient, f outFrame) {
	select {
	case c.out <- f:
	default:
		// Too slow: a real exchange drops such a client.
		l.slowKick.Add(1)
		c.close()
	}
}

// Broadcast queues frame for every connected client. The frame must not be
// modified afterwards.
func (l *Loopback) Broadcast(frame []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.clients {
		l.sendTo(c, frame)
	}
}

// SendTo queues frame for the i-th connected client, oldest first, and
// reports whether there is one: a venue that feeds one connection and
// starves its sibling.
func (l *Loopback) SendTo(i int, frame []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 0 || i >= len(l.order) {
		return false
	}
	l.sendTo(l.order[i], frame)
	return true
}

// Clients is the number of connected clients.
func (l *Loopback) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// WaitClients waits until at least n clients are connected or ctx ends.
func (l *Loopback) WaitClients(ctx context.Context, n int) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for l.Clients() < n {
		select {
		case <-ctx.Done():
			return errors.New("loopback exchange: clients did not connect in time")
		case <-t.C:
		}
	}
	return nil
}

// Accepted is how many connections were accepted in total.
func (l *Loopback) Accepted() int64 { return l.accepted.Load() }

// Sent is how many data frames (Broadcast, SendTo, OnMessage replies,
// Conn.Send) were written in total; canary frames are counted by CanarySent.
func (l *Loopback) Sent() int64 { return l.sent.Load() }

// CanarySent is how many canary frames were written in total.
func (l *Loopback) CanarySent() int64 { return l.canarySent.Load() }

// Dropped is how many connections DropAfter closed.
func (l *Loopback) Dropped() int64 { return l.dropped.Load() }

// HeartbeatsAnswered is how many of the exchange's heartbeats (Heartbeat)
// clients answered.
func (l *Loopback) HeartbeatsAnswered() int64 { return l.answered.Load() }

// HeartbeatKicks is how many clients were disconnected for leaving
// HeartbeatMisses heartbeats unanswered.
func (l *Loopback) HeartbeatKicks() int64 { return l.hbKicks.Load() }

// Pongs is how many WebSocket pongs clients sent, to the exchange's pings
// (PingEvery, Conn.Ping) or unsolicited.
func (l *Loopback) Pongs() int64 { return l.pongs.Load() }

// StrayPongs is how many of Pongs carried a payload that is not that of
// one of the latest pings sent on their connection: a client that does
// not echo the ping it answers.
func (l *Loopback) StrayPongs() int64 { return l.strayPongs.Load() }

// StallHandshake makes the exchange read each new handshake request and
// never answer it (true), as an overloaded gateway that accepts TCP does,
// or answer again (false); open connections are left alone.
func (l *Loopback) StallHandshake(on bool) { l.stall.Store(on) }

// Stalled is how many handshakes StallHandshake left unanswered.
func (l *Loopback) Stalled() int64 { return l.stalled.Load() }

// LastHeader returns the handshake headers of the latest connection.
func (l *Loopback) LastHeader() http.Header {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	return l.lastHeader
}

// DropAll closes every client connection abruptly (no close frame), as a
// crashing exchange gateway would.
func (l *Loopback) DropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.clients {
		c.close()
	}
}

// Refuse makes the exchange answer new connections with HTTP 503 (true)
// or accept them again (false), as a venue under maintenance does; open
// connections are left alone (DropAll ends them).
func (l *Loopback) Refuse(on bool) { l.refuse.Store(on) }

// Silence stops (true) or resumes (false) all frames, pongs and pings
// while keeping connections open: a half-open connection as seen by the
// client.
func (l *Loopback) Silence(on bool) { l.silent.Store(on) }

// SilenceCanary stops (true) or resumes (false) the canary pushes only:
// the connection stays open and keeps answering pings, the subscription
// is dead. It is the failure a read deadline cannot see.
func (l *Loopback) SilenceCanary(on bool) { l.canarySilent.Store(on) }

// Close stops the server and disconnects everyone.
func (l *Loopback) Close() error {
	l.quitOnce.Do(func() { close(l.quit) })
	l.DropAll()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return l.srv.Shutdown(ctx)
}
