package ingesttest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/liqbox/liqbox/event"
)

// HolySheepPath is where the relay stand-in serves, as the published
// endpoint wss://api.holysheep.ai/v1/ws/stream does.
const HolySheepPath = "/v1/ws/stream"

// HolySheepLiquidation is one liquidation as the HolySheep relay publishes
// it (see ingest's notes on the relay: every shape here is the
// publication's, nothing was seen on the wire). Number fields are spliced
// into the frame as written.
type HolySheepLiquidation struct {
	Exchange    string     // the relay's exchange name; "" omits the member
	Symbol      string     // as the venue writes it
	Side        event.Side // written LONG or SHORT
	QuantityUSD string     // a JSON number, e.g. "125000.5"
	Price       string
	TimeMs      int64 // 0 omits the time
	// AIAnalysis embeds the relay's own analysis object, which liqbox
	// skips.
	AIAnalysis bool
}

// AppendHolySheep appends the frame the relay sends for l: an envelope on
// the liquidation channel with the liquidation as its data.
func AppendHolySheep(dst []byte, l *HolySheepLiquidation) []byte {
	dst = append(dst, `{"channel":"liquidation","data":{`...)
	if l.Exchange != "" {
		dst = append(dst, `"exchange":"`...)
		dst = append(dst, l.Exchange...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"symbol":"`...)
	dst = append(dst, l.Symbol...)
	dst = append(dst, `","side":"`...)
	dst = append(dst, l.Side.Upper()...)
	dst = append(dst, `","quantity_usd":`...)
	dst = append(dst, l.QuantityUSD...)
	dst = append(dst, `,"price":`...)
	dst = append(dst, l.Price...)
	if l.TimeMs != 0 {
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendInt(dst, l.TimeMs, 10)
	}
	if l.AIAnalysis {
		dst = append(dst, `,"ai_analysis":{"risk_level":"HIGH","summary":"Long cascade under way, \"funding\" stretched","confidence":0.82,"factors":["oi_drop",{"w":0.4}]}`...)
	}
	return append(dst, `}}`...)
}

// RelaySubscription is one subscribe message the stand-in received,
// parsed; Raw is the message as sent.
type RelaySubscription struct {
	Action  string `json:"action"`
	Channel string `json:"channel"`
	Params  struct {
		Exchange     string   `json:"exchange"`
		Symbols      []string `json:"symbols"`
		ThresholdUSD float64  `json:"threshold_usd"`
		OrderBook    *bool    `json:"include_orderbook_snapshot"`
	} `json:"params"`
	Raw string `json:"-"`
}

// RelayOptions configure the stand-in relay.
type RelayOptions struct {
	// Key is the API key it accepts as "Authorization: Bearer <Key>"; any
	// other handshake is refused with 401. Empty accepts every handshake.
	Key string
	// PingEvery makes it send WebSocket pings; zero sends none.
	PingEvery time.Duration
	// Lag delays every liquidation by this long after Send, as a relay on
	// other servers would.
	Lag time.Duration
}

// Relay is a stand-in for the HolySheep relay on 127.0.0.1: it checks the
// handshake's key, answers the published subscribe message with an
// acknowledgement (or an error reply for anything else), forwards the
// liquidations it is given to the subscriptions they fit (exchange,
// symbols, threshold), pings, answers pings, and can drop everyone.
type Relay struct {
	o   RelayOptions
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex // guards clients, heads, subs
	clients map[*relayClient]struct{}
	heads   []http.Header
	subs    []RelaySubscription

	refused, pongs atomic.Int64
}

type relayClient struct {
	ws   *websocket.Conn
	out  chan relayFrame
	done chan struct{}
	once sync.Once

	mu  sync.Mutex // guards sub
	sub *RelaySubscription
}

type relayFrame struct {
	b   []byte
	due time.Time
}

// NewRelay listens on 127.0.0.1 at a free port and serves.
func NewRelay(o RelayOptions) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{o: o, ln: ln, clients: map[*relayClient]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc(HolySheepPath, r.serve)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(ln)
	return r, nil
}

// URL is the stand-in's stream endpoint.
func (r *Relay) URL() string { return "ws://" + r.ln.Addr().String() + HolySheepPath }

func (r *Relay) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.heads = append(r.heads, req.Header.Clone())
	r.mu.Unlock()
	if r.o.Key != "" && req.Header.Get("Authorization") != "Bearer "+r.o.Key {
		r.refused.Add(1)
		http.Error(w, `{"error":"invalid api key"}`, http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, req, nil)
	if err != nil {
		return
	}
	c := &relayClient{ws: ws, out: make(chan relayFrame, 4096), done: make(chan struct{})}
	ws.SetPongHandler(func(string) error { r.pongs.Add(1); return nil })
	r.mu.Lock()
	r.clients[c] = struct{}{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.clients, c)
		r.mu.Unlock()
		c.close()
	}()
	go r.write(c)
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		var sub RelaySubscription
		if json.Unmarshal(msg, &sub) != nil || sub.Action != "subscribe" || sub.Channel != "liquidation" || sub.Params.Exchange == "" {
			c.send(relayFrame{b: []byte(`{"type":"error","message":"unknown request"}`)})
			continue
		}
		sub.Raw = string(msg)
		// Both at once, so that WaitSubscribed's count and Subscriptions
		// agree.
		r.mu.Lock()
		c.mu.Lock()
		c.sub = &sub
		c.mu.Unlock()
		r.subs = append(r.subs, sub)
		r.mu.Unlock()
		c.send(relayFrame{b: []byte(`{"type":"subscribed","channel":"liquidation","params":{"exchange":"` + sub.Params.Exchange + `"}}`)})
	}
}

// write owns every data write to the connection; pings go as control
// frames, which gorilla lets run beside it.
func (r *Relay) write(c *relayClient) {
	var ping <-chan time.Time
	if r.o.PingEvery > 0 {
		t := time.NewTicker(r.o.PingEvery)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case <-c.done:
			return
		case f := <-c.out:
			if d := time.Until(f.due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-c.done:
					t.Stop()
					return
				case <-t.C:
				}
			}
			c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if c.ws.WriteMessage(websocket.TextMessage, f.b) != nil {
				c.close()
				return
			}
		case <-ping:
			if c.ws.WriteControl(websocket.PingMessage, []byte("hs"), time.Now().Add(5*time.Second)) != nil {
				c.close()
				return
			}
		}
	}
}

func (c *relayClient) send(f relayFrame) {
	select {
	case c.out <- f:
	default: // too slow: the relay drops it
		c.close()
	}
}

func (c *relayClient) close() {
	c.once.Do(func() {
		close(c.done)
		c.ws.Close()
	})
}

// fits reports whether l is for the client's subscription.
func (c *relayClient) fits(l *HolySheepLiquidation) bool {
	c.mu.Lock()
	sub := c.sub
	c.mu.Unlock()
	if sub == nil || (l.Exchange != "" && !strings.EqualFold(l.Exchange, sub.Params.Exchange)) {
		return false
	}
	if usd, err := strconv.ParseFloat(l.QuantityUSD, 64); err == nil && usd < sub.Params.ThresholdUSD {
		return false
	}
	for _, s := range sub.Params.Symbols {
		if s == "ALL" || s == l.Symbol {
			return true
		}
	}
	return false
}

// Send forwards l, Lag from now, to every subscription it fits.
func (r *Relay) Send(l HolySheepLiquidation) {
	b := AppendHolySheep(nil, &l)
	due := time.Now().Add(r.o.Lag)
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.clients {
		if c.fits(&l) {
			c.send(relayFrame{b: b, due: due})
		}
	}
}

// SendRaw sends frame at once to every subscribed client: what a relay
// that changed its format would send.
func (r *Relay) SendRaw(frame []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.clients {
		c.mu.Lock()
		subscribed := c.sub != nil
		c.mu.Unlock()
		if subscribed {
			c.send(relayFrame{b: frame})
		}
	}
}

// Handshakes are the headers of every handshake, accepted or refused.
func (r *Relay) Handshakes() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.heads...)
}

// Subscriptions are the subscribe messages received, oldest first.
func (r *Relay) Subscriptions() []RelaySubscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RelaySubscription(nil), r.subs...)
}

// Refused is how many handshakes were refused for their key.
func (r *Relay) Refused() int64 { return r.refused.Load() }

// Pongs is how many answers to its pings the stand-in received.
func (r *Relay) Pongs() int64 { return r.pongs.Load() }

// WaitSubscribed waits until n connections are subscribed at once.
func (r *Relay) WaitSubscribed(ctx context.Context, n int) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		r.mu.Lock()
		k := 0
		for c := range r.clients {
			c.mu.Lock()
			if c.sub != nil {
				k++
			}
			c.mu.Unlock()
		}
		r.mu.Unlock()
		if k >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("relay stand-in: subscriptions did not arrive in time")
		case <-t.C:
		}
	}
}

// DropAll closes every connection abruptly.
func (r *Relay) DropAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.clients {
		c.close()
	}
}

// CloseAll ends every connection with a close frame (1001, going away), as
// a relay restarting its servers would.
func (r *Relay) CloseAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.clients {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "restart"), time.Now().Add(time.Second))
		// The close handshake, as a server does it: the reader ends on the
		// client's echo. Closing the socket at once would race the
		// client's next ping, whose RST makes Linux discard the unread
		// close frame (a read error, not a server close, on a loaded box).
		time.AfterFunc(time.Second, c.close)
	}
}

// Close stops the stand-in and disconnects everyone.
func (r *Relay) Close() error {
	r.DropAll()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}
