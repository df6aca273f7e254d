package enrich

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/enrich/enrichtest"
	"github.com/liqbox/liqbox/event"
)

// The tests of the sparse pattern run this many times faster than life:
// every duration of the pattern and of the options is divided by it, so a
// minute of alerts takes six seconds and the model's 300 ms take 30 ms.
const speedup = 10

func scaled(d time.Duration) time.Duration { return d / speedup }

// sparseOptions are the defaults that matter here, at the tests' speed.
func sparseOptions(o *Options) {
	o.Window = scaled(1500 * time.Millisecond)
	o.EditMaxAge = scaled(time.Minute)
	o.Timeout = scaled(20 * time.Second)
	o.RetryBase = scaled(500 * time.Millisecond)
	o.MaxAttempts = 3
	o.MaxBatch = 10
	o.QueueLen = 256
	o.MinUSD = 250_000
}

type offered struct {
	seq uint64
	at  time.Time
}

// feedSparse plays issue 12's sparse pattern for span (before scaling):
// one $600K liquidation every 1–3 s (uniformly random) amid small ones
// below MinUSD, each observed and offered as the pipeline does. It returns
// the large ones with when they were offered.
func feedSparse(env *testEnv, span time.Duration, seed uint64) []offered {
	rng := rand.New(rand.NewPCG(seed, 1))
	var alerts []offered
	seq := uint64(0)
	start := time.Now()
	next := start
	for time.Since(start) < scaled(span) {
		for time.Now().Before(next) {
			seq++
			bg := ev(seq, "ETHUSDT", event.Side(1+seq%2), 2_000, 0)
			env.offer(bg)
			time.Sleep(2 * time.Millisecond)
		}
		seq++
		env.offer(ev(seq, "BTCUSDT", event.Long, 600_000, 0))
		alerts = append(alerts, offered{seq, time.Now()})
		next = time.Now().Add(scaled(time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))))
	}
	return alerts
}

// checkAllAnalysed waits for an analysis of every alert and checks that
// each got exactly one, from the model unless rules is set, and none too
// late to edit its alert. It returns each alert's delay, in real-life time.
func checkAllAnalysed(t *testing.T, env *testEnv, alerts []offered, rulesOK bool) []time.Duration {
	t.Helper()
	got := env.sink.wait(t, len(alerts))
	time.Sleep(scaled(2 * time.Second)) // anything extra would have come by now
	if all := env.sink.all(); len(all) != len(alerts) {
		t.Errorf("%d analyses for %d alerts", len(all), len(alerts))
	}
	bySeq := map[uint64]event.Analysis{}
	for _, a := range got {
		bySeq[a.Seq] = a
	}
	arrived := env.sink.arrivals()
	var delays []time.Duration
	models, late := 0, 0
	for _, al := range alerts {
		a, ok := bySeq[al.seq]
		if !ok {
			t.Errorf("alert %d: no analysis", al.seq)
			continue
		}
		if a.Source == SourceLLM {
			models++
		} else if !rulesOK {
			t.Errorf("alert %d: %s read (%s), want the model's", al.seq, a.Source, a.Reason)
		}
		d := arrived[al.seq].Sub(al.at)
		if d > scaled(time.Minute) {
			late++
		}
		delays = append(delays, d*speedup)
	}
	if late > 0 {
		t.Errorf("%d of %d analyses came more than the edit age after their alert", late, len(alerts))
	}
	slices.Sort(delays)
	if len(delays) > 0 {
		t.Logf("%d alerts, %d analysed by the model; delay (real-life scale) p50 %v, p95 %v, max %v", len(alerts), models,
			delays[len(delays)/2].Round(time.Millisecond), delays[len(delays)*95/100].Round(time.Millisecond), delays[len(delays)-1].Round(time.Millisecond))
	}
	return delays
}

// TestSparseAlertsAllAnalysed is issue 12's pattern against a model that
// answers in 300 ms: every alert gets the model's analysis, in time to
// edit it.
func TestSparseAlertsAllAnalysed(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 6 s, the same on every architecture: the full suite runs it")
	}
	t.Parallel() // these tests mostly wait: let them wait together
	srv, err := enrichtest.New(enrichtest.Options{Delay: scaled(enrichtest.DefaultDelay)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	env := start(t, srv.URL(), sparseOptions)
	alerts := feedSparse(env, time.Minute, 12)
	checkAllAnalysed(t, env, alerts, false)
	if env.e.q.len() != 0 {
		t.Errorf("queue holds %d after the run", env.e.q.len())
	}
}

// TestHungRequestDoesNotHoldBackOthers: the first request hangs until its
// timeout; the alerts that come while it hangs are answered by the model
// meanwhile, not after it.
func TestHungRequestDoesNotHoldBackOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 3 s, the same on every architecture: the full suite runs it")
	}
	t.Parallel()
	srv, err := enrichtest.New(enrichtest.Options{
		Handler: enrichtest.Sequence(enrichtest.Hang(), enrichtest.AnswerAll()),
		Delay:   scaled(enrichtest.DefaultDelay),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	env := start(t, srv.URL(), sparseOptions)
	alerts := feedSparse(env, 30*time.Second, 3)
	checkAllAnalysed(t, env, alerts, false)
	hangEnd := srv.Requests()[0].At.Add(scaled(20 * time.Second)) // the client's Timeout
	arrived := env.sink.arrivals()
	waiting, answered := 0, 0
	for _, al := range alerts[1:] {
		if al.at.Add(scaled(5 * time.Second)).After(hangEnd) {
			break // too close to the end of the hang to tell
		}
		waiting++
		if arrived[al.seq].Before(hangEnd) {
			answered++
		}
	}
	if waiting == 0 || answered != waiting {
		t.Errorf("%d of the %d alerts offered while the first request hung were analysed before it ended", answered, waiting)
	}
}

// TestModelOutageAnalysesInTime: for a stretch longer than the edit age
// every request hangs; every alert still gets an analysis (the rules'
// while the model is out) in time to edit it, and the model's again after.
func TestModelOutageAnalysesInTime(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 10 s, the same on every architecture: the full suite runs it")
	}
	t.Parallel()
	var mu sync.Mutex
	var outageEnd time.Time
	srv, err := enrichtest.New(enrichtest.Options{
		Handler: func(r *enrichtest.Request) enrichtest.Reply {
			mu.Lock()
			defer mu.Unlock()
			if r.At.Before(outageEnd) {
				return enrichtest.Reply{Hang: true}
			}
			return enrichtest.AnswerAll()(r)
		},
		Delay: scaled(enrichtest.DefaultDelay),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	mu.Lock()
	outageEnd = time.Now().Add(scaled(70 * time.Second))
	mu.Unlock()
	env := start(t, srv.URL(), func(o *Options) {
		sparseOptions(o)
		o.BreakerCooldown = scaled(20 * time.Second) // so the model is probed again before the end
	})
	alerts := feedSparse(env, 100*time.Second, 7)
	checkAllAnalysed(t, env, alerts, true)
	last := env.sink.all()
	if a := last[len(last)-1]; a.Source != SourceLLM {
		t.Errorf("after the outage the last analysis is %s (%s), want the model's", a.Source, a.Reason)
	}
}

// TestBacklogNewestFirst: with more alerts waiting than one batch holds,
// the newest go first; those that waited past the model's share of the
// edit age get the rules read at once while newer ones have the model.
func TestBacklogNewestFirst(t *testing.T) {
	srv := newLLM(t, answerHigh(10, 10))
	env := prepare(t, srv.URL(), func(o *Options) { o.MaxBatch = 10; o.Window = time.Minute; o.MaxInFlight = 1 })
	for i := uint64(1); i <= 25; i++ {
		age := time.Duration(0)
		if i <= 5 {
			age = -40 * time.Second // waited past the model's 30 s share: a restart's backlog
		}
		env.offer(ev(i, "BTCUSDT", event.Long, 300_000, age))
	}
	env.run(t)
	got := env.sink.wait(t, 25)
	for _, a := range got[:5] {
		if a.Seq > 5 || a.Source != SourceRules || a.Reason != event.ReasonBacklog || a.Late {
			t.Errorf("old alert: %+v, want the rules read, reason backlog, in time", a)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	want := [][]string{{"16", "17", "18", "19", "20", "21", "22", "23", "24", "25"}, {"6", "7", "8", "9", "10", "11", "12", "13", "14", "15"}}
	for i, r := range reqs {
		if !slices.Equal(r.IDs, want[i]) {
			t.Errorf("request %d asked about %v, want %v", i, r.IDs, want[i])
		}
	}
}

// TestLateAnalysisMarked: an alert already past the edit age, with the
// model idle, is still analysed by the model, and marked Late, here and in
// the log.
func TestLateAnalysisMarked(t *testing.T) {
	srv := newLLM(t, answerHigh(10, 10))
	env := start(t, srv.URL(), nil)
	env.offer(ev(1, "BTCUSDT", event.Long, 300_000, -90*time.Second))
	a := env.sink.wait(t, 1)[0]
	if a.Source != SourceLLM || !a.Late {
		t.Errorf("analysis = %+v, want the model's, Late", a)
	}
	if s := env.stored(t, 1); !s.Late {
		t.Errorf("stored = %+v, want Late", s)
	}
	if env.e.m.late.Get() != 1 || env.e.State().Late != 1 {
		t.Errorf("late not counted")
	}
	env.offer(ev(2, "BTCUSDT", event.Long, 300_000, 0))
	if a := env.sink.wait(t, 2)[1]; a.Late {
		t.Errorf("fresh analysis marked Late: %+v", a)
	}
}

// fakeAcker records checkpoints and checks each against the KV store.
type fakeAcker struct {
	mu    sync.Mutex
	acks  []uint64
	check func(seq uint64)
}

func (a *fakeAcker) Ack(sink string, seq uint64) {
	if sink != AckSink {
		panic("ack for " + sink)
	}
	if a.check != nil {
		a.check(seq)
	}
	a.mu.Lock()
	a.acks = append(a.acks, seq)
	a.mu.Unlock()
}

func (a *fakeAcker) last() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.acks) == 0 {
		return 0
	}
	return a.acks[len(a.acks)-1]
}

// waitAck waits for the checkpoint to reach want.
func (a *fakeAcker) waitAck(t *testing.T, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for a.last() < want {
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %d, want %d", a.last(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAckOnlyWhenDurable: the checkpoint never passes an alert whose
// analysis is not in the KV store, stops below one that could not be
// stored, and covers the events that needed no analysis.
func TestAckOnlyWhenDurable(t *testing.T) {
	for _, failing := range []bool{false, true} {
		name := map[bool]string{false: "stored", true: "store fails for seq 3"}[failing]
		t.Run(name, func(t *testing.T) {
			srv := newLLM(t, answerHigh(10, 10))
			acker := &fakeAcker{}
			alerts := map[uint64]bool{1: true, 3: true, 5: true, 6: true}
			env := prepare(t, srv.URL(), func(o *Options) { o.Acker = acker; o.MinUSD = 50_000 })
			if failing {
				env.kv.failPut = func(bucket, key []byte) bool {
					return string(bucket) == ResultsBucket && string(key) == string(seqKey(3))
				}
			}
			acker.check = func(w uint64) {
				for seq := range alerts {
					if seq <= w {
						if _, ok, _ := LoadAnalysis(env.kv, seq); !ok {
							t.Errorf("checkpoint %d passes alert %d, whose analysis is not stored", w, seq)
						}
					}
				}
			}
			env.run(t)
			for seq := uint64(1); seq <= 8; seq++ {
				usd := 1_000.0
				if alerts[seq] {
					usd = 100_000
				}
				env.offer(ev(seq, "BTCUSDT", event.Long, usd, 0))
				if alerts[seq] {
					env.sink.wait(t, len(env.sink.all())+1) // one batch each, so acks come in between
				}
			}
			if failing {
				time.Sleep(100 * time.Millisecond)
				if got := acker.last(); got != 2 {
					t.Errorf("checkpoint %d, want 2: the analysis of 3 was never stored", got)
				}
				return
			}
			acker.waitAck(t, 8) // 7 and 8 needed no analysis
		})
	}
}

// TestStopLeavesPendingForRedelivery: at shutdown an alert whose request is
// out and one still queued get nothing and stay unacknowledged; after a
// restart, redelivered by the log, they get the model's analysis.
func TestStopLeavesPendingForRedelivery(t *testing.T) {
	srv := newLLM(t, enrichtest.Hang())
	acker := &fakeAcker{}
	env := start(t, srv.URL(), func(o *Options) { o.Acker = acker; o.MaxInFlight = 1 })
	first, second := ev(11, "BTCUSDT", event.Long, 300_000, 0), ev(12, "BTCUSDT", event.Long, 300_000, 0)
	env.offer(first)
	for srv.Count() == 0 {
		time.Sleep(time.Millisecond)
	}
	env.offer(second)
	env.cancel()
	if err := <-env.done; err != nil {
		t.Fatal(err)
	}
	env.done <- nil // for the cleanup
	if got := env.sink.all(); len(got) != 0 {
		t.Errorf("analyses at shutdown: %+v", got)
	}
	if acker.last() >= 11 {
		t.Errorf("checkpoint %d passes the pending alerts", acker.last())
	}

	// The restart: the log hands back what is past the checkpoint.
	srv.SetHandler(answerHigh(10, 10))
	env2 := start(t, srv.URL(), func(o *Options) { o.Acker = acker; o.KV = env.kv })
	for _, x := range []event.Event{first, second} {
		x.Flags |= event.FlagReplay
		env2.offer(x)
	}
	got := env2.sink.wait(t, 2)
	for _, a := range got {
		if a.Source != SourceLLM || a.Late {
			t.Errorf("after the restart: %+v", a)
		}
	}
	acker.waitAck(t, 12)
}

// TestRedeliveredReusesStoredAnalysis: an alert redelivered after a
// restart whose analysis was stored (the crash came before the
// checkpoint) gets that analysis again without a request.
func TestRedeliveredReusesStoredAnalysis(t *testing.T) {
	srv := newLLM(t, answerHigh(10, 10))
	acker := &fakeAcker{}
	env := prepare(t, srv.URL(), func(o *Options) { o.Acker = acker })
	stored := event.Analysis{Seq: 7, Risk: event.RiskHigh, Summary: "before the crash", Recommendation: "r", Source: SourceLLM, Model: "m", Lang: "en"}
	if err := SaveAnalysis(env.kv, stored, time.Now()); err != nil {
		t.Fatal(err)
	}
	x := ev(7, "BTCUSDT", event.Long, 300_000, 0)
	x.Flags |= event.FlagReplay
	env.offer(x)
	env.run(t)
	if a := env.sink.wait(t, 1)[0]; a.Summary != "before the crash" {
		t.Errorf("analysis = %+v", a)
	}
	acker.waitAck(t, 7)
	if srv.Count() != 0 || env.e.m.reused.Get() != 1 {
		t.Errorf("%d requests, reused %d", srv.Count(), env.e.m.reused.Get())
	}
}
