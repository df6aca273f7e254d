package enrich

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// fakeLog is an event log in memory, scanned by receive time as the store does.
type fakeLog []event.Event

func (l fakeLog) Scan(from, to time.Time, fn func(*event.Event) error) error {
	for i := range l {
		ev := l[i]
		if ev.RecvNs < from.UnixNano() || (!to.IsZero() && ev.RecvNs >= to.UnixNano()) {
			continue
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return nil
}

// pastHour is 90 minutes of liquidations on two symbols ending just before
// now, at 1–20 s intervals, with a few large ones in the last minute.
func pastHour(now time.Time) fakeLog {
	rng := rand.New(rand.NewPCG(6, 12))
	var l fakeLog
	seq := uint64(0)
	for at := now.Add(-90 * time.Minute); at.Before(now.Add(-time.Minute)); at = at.Add(time.Second + time.Duration(rng.Int64N(int64(19*time.Second)))) {
		seq++
		sym := []string{"BTCUSDT", "ETHUSDT"}[rng.IntN(2)]
		l = append(l, liqAt(seq, sym, event.Side(1+rng.IntN(2)), 1_000+rng.Float64()*400_000, at))
	}
	for i := 0; i < 6; i++ {
		seq++
		l = append(l, liqAt(seq, "BTCUSDT", event.Long, 300_000, now.Add(-50*time.Second+time.Duration(i)*5*time.Second)))
	}
	return l
}

func liqAt(seq uint64, sym string, side event.Side, usd float64, at time.Time) event.Event {
	return event.Event{Seq: seq, TimeMs: at.UnixMilli(), RecvNs: at.Add(3 * time.Millisecond).UnixNano(),
		Price: 100, Qty: usd / 100, Notional: usd, Venue: event.BinanceUSDM, Market: event.Linear, Side: side,
		Basis: event.BasisLinear, Symbol: event.MakeSymbol(sym)}
}

func rulesEnricher(t *testing.T) (*Enricher, *fakeSink) {
	t.Helper()
	sink := newSink()
	e, err := New(Options{Sink: sink, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	return e, sink
}

// TestSeedSeesTheSamePast: an Enricher seeded from the log after a restart
// gives the next alert the same context, and so the same rules read, as
// the one that saw every event live; an alert the log redelivers is
// counted once.
func TestSeedSeesTheSamePast(t *testing.T) {
	now := time.Now()
	log := pastHour(now)
	alert := liqAt(uint64(len(log)+1), "BTCUSDT", event.Long, 600_000, now)

	live, _ := rulesEnricher(t)
	for i := range log {
		live.Observe(&log[i])
	}
	live.Observe(&alert)
	want := live.agg.snapshot(&alert)
	if want.N1mSame < 7 || want.HistoryN < 100 || !want.Cascade {
		t.Fatalf("the past is too thin to test with: %+v", want)
	}

	restarted, _ := rulesEnricher(t)
	n, err := restarted.Seed(append(log, alert), now) // the alert was logged before the crash
	if err != nil || n == 0 || n >= len(log) {
		t.Fatalf("Seed read %d events (log has %d, a third older than the window): %v", n, len(log), err)
	}
	redelivered := alert
	redelivered.Flags |= event.FlagReplay
	restarted.Offer(&redelivered)
	got := restarted.q.popNewest(nil, 1)[0].cx
	if got != want {
		t.Errorf("after the restart the alert's context is\n%+v\nwant\n%+v", got, want)
	}
	a := rulesAnalysis(&alert, &got, "en", event.ReasonDisabled)
	b := rulesAnalysis(&alert, &want, "en", event.ReasonDisabled)
	if a.Summary != b.Summary || a.Risk != b.Risk {
		t.Errorf("rules read after the restart %q (%s), before %q (%s)", a.Summary, a.Risk, b.Summary, b.Risk)
	}
}

// TestAlertCountsItself: without seeding, a redelivered alert (offered
// without Observe) is still in its own context: the rules read never says
// "$0 (0 events)" for the liquidation it describes.
func TestAlertCountsItself(t *testing.T) {
	env := start(t, "http://127.0.0.1:1", func(o *Options) { o.Enabled = false; o.APIKey = "" })
	x := ev(41, "BTCUSDT", event.Long, 600_000, 0)
	x.Flags |= event.FlagReplay
	env.e.Offer(&x) // the log's redelivery calls Offer alone
	a := env.sink.wait(t, 1)[0]
	if !strings.Contains(a.Summary, "longs liquidated 1m $600.0K (1 events), 1h $600.0K") {
		t.Errorf("summary = %q", a.Summary)
	}
	// Observe then Offer, as the pipeline does, counts it once.
	y := ev(42, "BTCUSDT", event.Long, 400_000, 0)
	env.offer(y)
	if b := env.sink.wait(t, 2)[1]; !strings.Contains(b.Summary, "1m $1.00M (2 events)") {
		t.Errorf("summary = %q", b.Summary)
	}
}
