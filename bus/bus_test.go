package bus

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/bus/bustest"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/pipeline"
	"github.com/liqbox/liqbox/ring"
	"github.com/liqbox/liqbox/store"
)

// natsServer starts an in-process nats-server for the test.
func natsServer(t testing.TB) *bustest.Server {
	t.Helper()
	srv, err := bustest.Start(bustest.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// group runs goroutines until stopped, in reverse order of start.
type group struct {
	t     testing.TB
	mu    sync.Mutex
	stops []func()
}

func newGroup(t testing.TB) *group {
	g := &group{t: t}
	t.Cleanup(g.stopAll)
	return g
}

func (g *group) run(name string, fn func(context.Context) error) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				g.t.Errorf("%s: %v", name, err)
			}
		})
	}
	g.mu.Lock()
	g.stops = append(g.stops, stop)
	g.mu.Unlock()
	return stop
}

func (g *group) stopAll() {
	g.mu.Lock()
	stops := g.stops
	g.stops = nil
	g.mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

// box is a log (and, consuming, a pipeline) on the bus.
type box struct {
	st    *store.Store
	conn  *Conn
	pub   *Publisher
	cons  *Consumer
	pipe  *pipeline.Pipeline
	set   *metrics.Set
	stop  func() // stops this box's goroutines, then its log
	gr    *group
	alert func(ev *event.Event)
}

type boxOpts struct {
	name             string
	url              string
	publish, consume bool
	path             string // the log [a new one]
	edit             func(*Config)
	alerts           func(ev *event.Event) // the pipeline's first sink (consuming boxes)
}

func startBox(t testing.TB, o boxOpts) *box {
	t.Helper()
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), o.name+".db")
	}
	b := &box{set: metrics.NewSet(), gr: newGroup(t)}
	st, err := store.Open(o.path, store.Options{Metrics: b.set, BatchDelay: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.st = st
	stopStore := b.gr.run(o.name+" store", st.Run)
	cfg := Config{URL: o.url, BoxName: o.name, Publish: o.publish, Consume: o.consume, CreateStream: true,
		AlertMaxAge: 10 * time.Second}
	if o.edit != nil {
		o.edit(&cfg)
	}
	lg := testLogger(o.name)
	c, err := Dial(cfg, Options{Metrics: b.set, Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	b.conn = c
	stopConn := b.gr.run(o.name+" conn", c.Run)
	var stopCons, stopPipe, stopPub func()
	if o.consume {
		w := ring.NewWaker()
		b.cons = NewConsumer(c, st, ConsumerOptions{Waker: w, LastSeq: func() uint64 { return b.pipe.LastSeq() }, Logger: lg})
		sinks := []pipeline.Sink{}
		if o.alerts != nil {
			sinks = append(sinks, pipeline.SinkFunc(o.alerts))
		}
		sinks = append(sinks, pipeline.SinkFunc(func(ev *event.Event) { st.Append(ev) }))
		b.pipe = pipeline.New(pipeline.Options{Rings: []*ring.Ring{b.cons.Ring()}, Waker: w, StartSeq: st.LastSeq(),
			Sinks: sinks, Metrics: b.set})
		now := time.Now()
		st.DedupKeys(now, func(k uint64) { b.pipe.SeedDedup(k, now.UnixNano()) })
		stopCons = b.gr.run(o.name+" consumer", b.cons.Run)
		stopPipe = b.gr.run(o.name+" pipeline", b.pipe.Run)
	}
	if o.publish {
		b.pub = NewPublisher(c, st, lg)
		stopPub = b.gr.run(o.name+" publisher", b.pub.Run)
	}
	var once sync.Once
	b.stop = func() {
		once.Do(func() {
			for _, f := range []func(){stopCons, stopPipe, stopPub, stopConn, stopStore} {
				if f != nil {
					f()
				}
			}
			if err := st.Close(); err != nil {
				t.Errorf("%s: close: %v", o.name, err)
			}
		})
	}
	t.Cleanup(b.stop)
	return b
}

// testLogger prints the box's log on stderr with LIQBOX_BUS_TEST_LOG=1.
func testLogger(name string) *slog.Logger {
	if os.Getenv("LIQBOX_BUS_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("box", name)
}

// liq is a distinct liquidation: its quantity carries i.
func liq(i int, recv time.Time) event.Event {
	return event.Event{
		RecvNs: recv.UnixNano(), TimeMs: recv.UnixMilli() - 2,
		Price: 3000.25, Qty: float64(i), Notional: 3000.25 * float64(i),
		Venue: event.BinanceUSDM, Market: event.Linear, Side: event.Long, Basis: event.BasisLinear,
		Symbol: event.MakeSymbol("ETHUSDT"),
	}
}

// appendN appends n liquidations numbered from first to the box's log.
func (b *box) appendN(first, n int, recv func(i int) time.Time) []event.Event {
	out := make([]event.Event, 0, n)
	for i := first; i < first+n; i++ {
		ev := liq(i, recv(i))
		ev.Seq = b.st.LastSeq() + 1
		b.st.Append(&ev)
		out = append(out, ev)
	}
	return out
}

func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func logEvents(t testing.TB, st *store.Store) []event.Event {
	t.Helper()
	var out []event.Event
	if err := st.Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
		out = append(out, *ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameLiquidation compares what the bus carries: everything but the
// local sequence number, connection and flags.
func sameLiquidation(a, b event.Event) bool {
	return a.Venue == b.Venue && a.Market == b.Market && a.Side == b.Side && a.Basis == b.Basis &&
		a.Symbol == b.Symbol && a.TimeMs == b.TimeMs && a.RecvNs == b.RecvNs &&
		math.Float64bits(a.Price) == math.Float64bits(b.Price) && math.Float64bits(a.Qty) == math.Float64bits(b.Qty) &&
		(math.Float64bits(a.Notional) == math.Float64bits(b.Notional) || math.IsNaN(a.Notional) && math.IsNaN(b.Notional))
}

// TestPublishConsumeExactly: every event the edge box's log committed
// reaches the central box's log once, equal but for the central box's own
// sequence numbers, flagged remote; the edge box's checkpoint covers them
// all and the central box acknowledged everything.
func TestPublishConsumeExactly(t *testing.T) {
	srv := natsServer(t)
	edge := startBox(t, boxOpts{name: "edge-1", url: srv.URL(), publish: true})
	central := startBox(t, boxOpts{name: "central", url: srv.URL(), consume: true})
	const n = 3000
	now := time.Now()
	sent := edge.appendN(1, n, func(i int) time.Time { return now.Add(time.Duration(i) * time.Microsecond) })
	// One of unknown size: null on the wire, unknown again at the end.
	unknown := liq(n+1, now.Add(time.Millisecond))
	unknown.Notional, unknown.Basis, unknown.Seq = math.NaN(), event.BasisUnknown, edge.st.LastSeq()+1
	edge.st.Append(&unknown)
	sent = append(sent, unknown)

	waitFor(t, 20*time.Second, "central log complete", func() bool { return central.st.Durable() >= uint64(len(sent)) })
	waitFor(t, 10*time.Second, "edge checkpoint", func() bool { return edge.pub.Status(time.Now()).Checkpoint == uint64(len(sent)) })
	waitFor(t, 10*time.Second, "central acknowledged", func() bool {
		k := central.cons.Status(time.Now())
		return k.Pending == 0 && k.AckPending == 0
	})
	time.Sleep(100 * time.Millisecond) // anything extra would arrive now
	got := logEvents(t, central.st)
	if len(got) != len(sent) {
		t.Fatalf("central log has %d events, the edge sent %d", len(got), len(sent))
	}
	for i := range got {
		if got[i].Seq != uint64(i+1) {
			t.Errorf("central seq %d at %d", got[i].Seq, i)
		}
		if !sameLiquidation(got[i], sent[i]) {
			t.Fatalf("event %d: central %+v, edge %+v", i, got[i], sent[i])
		}
		if got[i].Flags != event.FlagRemote || got[i].Conn != event.ConnRemote {
			t.Fatalf("event %d: flags %v conn %d", i, got[i].Flags, got[i].Conn)
		}
	}
	if cp, ok := edge.st.LookupCheckpoint("bus:LIQBOX"); !ok || cp != uint64(len(sent)) {
		t.Errorf("edge checkpoint in the log = %d, %v", cp, ok)
	}
	st := StatusOf(central.conn, nil, central.cons, time.Now())
	if len(st.Consume.Boxes) != 1 || st.Consume.Boxes[0].Box != "edge-1" || st.Consume.Boxes[0].Events != uint64(len(sent)) {
		t.Errorf("central's remote boxes: %+v", st.Consume.Boxes)
	}
	if p := edge.pub.Status(time.Now()); p.LagEvents != 0 || p.Lag != 0 {
		t.Errorf("publish lag after catching up: %+v", p)
	}
}
