package pipeline

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/ring"
)

type recorder struct {
	mu  sync.Mutex
	evs []event.Event
}

func (r *recorder) Offer(ev *event.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, *ev)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.evs...)
}

func liq(sym string, t int64, price, qty float64, conn uint8) event.Event {
	return event.Event{
		Venue: event.BinanceUSDM, Market: event.Linear, Side: event.Long, Basis: event.BasisLinear,
		Symbol: event.MakeSymbol(sym), TimeMs: t, Price: price, Qty: qty, Notional: price * qty,
		RecvNs: time.Now().UnixNano(), Conn: conn,
	}
}

func TestDedupAcrossConnectionsAndSequence(t *testing.T) {
	w := ring.NewWaker()
	r0, r1 := ring.New(64, w), ring.New(64, w)
	set := metrics.NewSet()
	var order []string
	var mu sync.Mutex
	first := SinkFunc(func(*event.Event) { mu.Lock(); order = append(order, "alert"); mu.Unlock() })
	rec := &recorder{}
	p := New(Options{Rings: []*ring.Ring{r0, r1}, Waker: w, StartSeq: 41, Sinks: []Sink{first, rec}, Metrics: set})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()

	a := liq("BTCUSDT", 1000, 50000, 2, 0)
	b := liq("ETHUSDT", 1001, 3000, 10, 0)
	r0.Push(&a)
	r0.Push(&b)
	a1 := a
	a1.Conn, a1.RecvNs = 1, a.RecvNs+int64(3*time.Millisecond)
	r1.Push(&a1)                             // the same liquidation from the redundant connection
	c := liq("BTCUSDT", 1000, 50000, 2.5, 1) // same time, different qty: distinct
	r1.Push(&c)

	deadline := time.Now().Add(5 * time.Second)
	for len(rec.snapshot()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	got := rec.snapshot()
	if len(got) != 3 {
		t.Fatalf("sinks got %d events, want 3 (one duplicate dropped)", len(got))
	}
	for i, ev := range got {
		if ev.Seq != uint64(42+i) {
			t.Errorf("event %d: seq %d, want %d", i, ev.Seq, 42+i)
		}
	}
	if p.LastSeq() != 44 {
		t.Errorf("LastSeq = %d, want 44", p.LastSeq())
	}
	if len(order) != 3 {
		t.Errorf("first sink saw %d events, want 3", len(order))
	}
	var sb strings.Builder
	set.WritePrometheus(&sb)
	out := sb.String()
	for _, want := range []string{
		`liqbox_pipeline_duplicates_total 1`,
		`liqbox_redundancy_wins_total{venue="binance-usdm",conn="0"} 1`,
		`liqbox_pipeline_events_total 3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if u := metricdoc.Undocumented(set); len(u) > 0 {
		t.Errorf("metrics without help: %q", u)
	}
}

func TestSeedDedupSuppressesRepeatAfterRestart(t *testing.T) {
	rec := &recorder{}
	w := ring.NewWaker()
	r := ring.New(8, w)
	p := New(Options{Rings: []*ring.Ring{r}, Waker: w, Sinks: []Sink{rec}})
	a := liq("SOLUSDT", 5, 100, 1, 0)
	p.SeedDedup(a.Key(), a.RecvNs-int64(time.Second))
	r.Push(&a)
	p.drainOnce()
	if n := len(rec.snapshot()); n != 0 {
		t.Fatalf("event seen before the restart was delivered again (%d)", n)
	}
}

func TestDedupWindowExpires(t *testing.T) {
	var d dedupTable
	d.init(16, time.Second)
	d.insert(7, 0, 0)
	if _, _, ok := d.seen(7, int64(500*time.Millisecond)); !ok {
		t.Fatal("key forgotten inside the window")
	}
	if _, _, ok := d.seen(7, int64(2*time.Second)); ok {
		t.Fatal("key remembered past the window")
	}
}

func TestDedupTableFullEvictsOldest(t *testing.T) {
	var d dedupTable
	d.init(16, time.Hour)
	for k := uint64(1); k <= 100; k++ {
		d.insert(k*16, int64(k), 0) // every key lands on slot 0's probe run
	}
	if _, _, ok := d.seen(100*16, 101); !ok {
		t.Fatal("newest key missing")
	}
	if _, _, ok := d.seen(1*16, 101); ok {
		t.Fatal("oldest key should have been evicted")
	}
}

func BenchmarkPipelineProcess(b *testing.B) {
	w := ring.NewWaker()
	r := ring.New(1024, w)
	var n int
	p := New(Options{Rings: []*ring.Ring{r}, Waker: w, Sinks: []Sink{SinkFunc(func(*event.Event) { n++ })}})
	ev := liq("BTCUSDT", 0, 60000, 1, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.TimeMs = int64(i)
		r.Push(&ev)
		p.drainOnce()
	}
	if n != b.N {
		b.Fatalf("sink saw %d of %d", n, b.N)
	}
}
