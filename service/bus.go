package service

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/liqbox/liqbox/bus"
	"github.com/liqbox/liqbox/ring"
)

// busParts is the bus as the box runs it ([bus]): one connection, the
// publisher when bus.publish is on, the consumer (one more source of the
// pipeline) when bus.consume is.
type busParts struct {
	conn *bus.Conn
	pub  *bus.Publisher
	cons *bus.Consumer
}

// newBus builds the bus parts from the config; nil when bus.url is empty
// or neither publish nor consume is on. The consumer's ring joins the
// pipeline's rings, fed by the waker.
func (s *Service) newBus(c *Config, waker *ring.Waker) (*busParts, error) {
	bc := c.Bus
	if bc.URL == "" || !bc.Publish && !bc.Consume {
		if bc.URL != "" {
			s.log.Warn("bus.url is set but neither bus.publish nor bus.consume is on: the bus is not used")
		}
		return nil, nil
	}
	if bc.BoxName == "" {
		bc.BoxName = HostBoxName()
	}
	bc.FirstAge = c.Store.RedeliverMaxAge
	bc.Defaults()
	conn, err := bus.Dial(bc, bus.Options{Metrics: s.set, Logger: s.log.With("component", "bus")})
	if err != nil {
		return nil, fmt.Errorf("cannot set up the bus: %w", err)
	}
	b := &busParts{conn: conn}
	if bc.Publish {
		b.pub = bus.NewPublisher(conn, s.store, s.log.With("component", "bus", "role", "publish"))
	}
	if bc.Consume {
		b.cons = bus.NewConsumer(conn, s.store, bus.ConsumerOptions{
			RingSize: c.Pipeline.RingSize,
			Waker:    waker,
			LastSeq:  func() uint64 { return s.pipe.LastSeq() },
			Logger:   s.log.With("component", "bus", "role", "consume"),
		})
	}
	return b, nil
}

// BusSummary says in one line what the box does on the bus, for `liqbox
// config check`: "off", or its roles, name, stream and servers (any
// password in them redacted).
func (c *Config) BusSummary() string {
	b := c.Bus
	if b.URL == "" || !b.Publish && !b.Consume {
		return "off"
	}
	var roles []string
	if b.Publish {
		roles = append(roles, "publish")
	}
	if b.Consume {
		roles = append(roles, "consume")
	}
	box := b.BoxName
	if box == "" {
		box = HostBoxName() + " (the host name)"
	}
	url := "?"
	if r, err := bus.NewRedactor(b.URL); err == nil {
		url = r.URL()
	}
	return strings.Join(roles, " and ") + " as " + box + ", stream " + b.Stream + " on " + url
}

// HostBoxName is the default bus.box_name: the host name, with any
// character a box name cannot hold replaced by '-'.
func HostBoxName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "liqbox"
	}
	h = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, h)
	if len(h) > bus.MaxBoxName {
		h = h[:bus.MaxBoxName]
	}
	return h
}

// rings is the consumer's ring, for the pipeline (none without one).
func (b *busParts) rings() []*ring.Ring {
	if b == nil || b.cons == nil {
		return nil
	}
	return []*ring.Ring{b.cons.Ring()}
}

// waiting is how many bus events wait for the pipeline (the watchdog's
// stall check counts them with the connections').
func (b *busParts) waiting() int {
	n := 0
	for _, r := range b.rings() {
		n += r.Len()
	}
	return n
}

// open starts the bus's goroutines: the connection in its own stage
// (stopped after the sinks, before the log), the consumer with the
// sources, the publisher with the sinks.
func (s *Service) openBus() {
	b := s.bus
	if b == nil {
		return
	}
	bc := b.conn.Config()
	s.log.Info("joining the bus", "url", b.conn.Redactor().URL(), "box", bc.BoxName, "stream", bc.Stream,
		"publish", b.pub != nil, "consume", b.cons != nil)
	s.start(s.busSt, "bus", b.conn.Run)
	if b.cons != nil {
		s.start(s.ingestSt, "bus consumer", b.cons.Run)
	}
	if b.pub != nil {
		s.start(s.sinkSt, "bus publisher", b.pub.Run)
	}
}

// BusStatus is the bus's state at now; nil when the box uses no bus.
func (s *Service) BusStatus(now time.Time) *bus.Status {
	if s.bus == nil {
		return nil
	}
	st := bus.StatusOf(s.bus.conn, s.bus.pub, s.bus.cons, now)
	return &st
}

// busHealth is what /healthz says of the bus: a consuming box whose bus
// has been lost for longer than the reconnect grace is blind to every
// remote stream. A publishing box is healthy without the bus: it logs and
// alerts on its own, and publishes later from its checkpoint.
func (s *Service) busHealth(now time.Time, grace time.Duration) []string {
	if s.bus == nil || s.bus.cons == nil {
		return nil
	}
	st := s.bus.cons.Status(now)
	if !st.Up && !st.DownSince.IsZero() && now.Sub(st.DownSince) > grace {
		return []string{fmt.Sprintf("bus: remote streams blind for %s (grace %s)", now.Sub(st.DownSince).Round(time.Second), grace)}
	}
	return nil
}

// BusJSON is /api/status's "bus" block (absent when the box uses no bus).
type BusJSON struct {
	URL       string          `json:"url"`
	Box       string          `json:"box"`
	Stream    string          `json:"stream"`
	Connected bool            `json:"connected"`
	Since     string          `json:"since"`
	LastError string          `json:"last_error,omitempty"`
	Publish   *BusPublishJSON `json:"publish,omitempty"`
	Consume   *BusConsumeJSON `json:"consume,omitempty"`
}

// BusPublishJSON is the publisher's part of BusJSON.
type BusPublishJSON struct {
	Checkpoint uint64  `json:"checkpoint"`
	Durable    uint64  `json:"durable"`
	LagEvents  uint64  `json:"lag_events"`
	LagS       float64 `json:"lag_s"`
	InFlight   int     `json:"inflight"`
	Published  uint64  `json:"published"`
	Errors     uint64  `json:"errors"`
	LastError  string  `json:"last_error,omitempty"`
}

// BusConsumeJSON is the consumer's part of BusJSON.
type BusConsumeJSON struct {
	Consumer   string          `json:"consumer"`
	Up         bool            `json:"up"`
	DownSince  string          `json:"down_since,omitempty"`
	Pending    uint64          `json:"pending"`
	AckPending uint64          `json:"ack_pending"`
	LagS       float64         `json:"lag_s"`
	Events     uint64          `json:"events"`
	Backlog    uint64          `json:"backlog"`
	Bad        uint64          `json:"bad"`
	Lost       uint64          `json:"lost"`
	Boxes      []RemoteBoxJSON `json:"boxes"`
}

// RemoteBoxJSON is one remote box.
type RemoteBoxJSON struct {
	Box        string   `json:"box"`
	Venues     []string `json:"venues"`
	LastEventS *float64 `json:"last_event_age_s"` // null before its first event
	Events     uint64   `json:"events"`
	Backlog    uint64   `json:"backlog"`
	Blind      bool     `json:"blind"`
}

func newBusJSON(st *bus.Status) *BusJSON {
	if st == nil {
		return nil
	}
	out := &BusJSON{URL: st.URL, Box: st.Box, Stream: st.Stream, Connected: st.Connected,
		Since: st.Since.UTC().Format(time.RFC3339), LastError: st.LastError}
	if p := st.Publish; p != nil {
		out.Publish = &BusPublishJSON{Checkpoint: p.Checkpoint, Durable: p.Durable, LagEvents: p.LagEvents,
			LagS: p.Lag.Seconds(), InFlight: p.InFlight, Published: p.Published, Errors: p.Errors, LastError: p.LastError}
	}
	if k := st.Consume; k != nil {
		c := &BusConsumeJSON{Consumer: k.Consumer, Up: k.Up, Pending: k.Pending, AckPending: k.AckPending,
			LagS: k.Lag.Seconds(), Events: k.Events, Backlog: k.Backlog, Bad: k.Bad, Lost: k.Lost, Boxes: []RemoteBoxJSON{}}
		if !k.DownSince.IsZero() {
			c.DownSince = k.DownSince.UTC().Format(time.RFC3339)
		}
		for _, r := range k.Boxes {
			rb := RemoteBoxJSON{Box: r.Box, Venues: r.Venues, Events: r.Events, Backlog: r.Backlog, Blind: r.Blind}
			if r.LastAge >= 0 {
				a := r.LastAge.Seconds()
				rb.LastEventS = &a
			}
			c.Boxes = append(c.Boxes, rb)
		}
		out.Consume = c
	}
	return out
}
