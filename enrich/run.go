package enrich

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/liqbox/liqbox/event"
)

// AckSink is the sink name under which the Enricher acknowledges analyses
// to Options.Acker (the store's checkpoint for enrichment).
const AckSink = "enrich"

// Acker records that a sink has handled every event up to seq, so that a
// restart redelivers only what came after. The store implements it; the
// checkpoint only moves forward.
type Acker interface {
	Ack(sink string, seq uint64)
}

// ackEvery is how often an idle Run moves the checkpoint over events that
// needed no analysis, so a restart has few to pass over again.
const ackEvery = time.Second

// errEditDeadline ends a request that has had its share of the edit age:
// the rules read then goes out while the alerts can still be edited.
var errEditDeadline = errors.New("the model took too long: the rules read goes out while the alert can still be edited")

// flight is one batch out to the model, owned by its worker until it is
// handed back on runner.done.
type flight struct {
	items   []item
	minSeq  uint64
	timeout time.Duration // the model's time left for the batch's oldest alert; 0 = no such bound
	stuck   uint64        // set by the worker: lowest seq left without a durable analysis, 0 if none
}

// runner is Run's state. Only Run's goroutine touches it, except a flight
// between its launch and its return on done.
type runner struct {
	e    *Enricher
	ctx  context.Context
	wg   sync.WaitGroup
	done chan *flight
	free []*flight // idle flights, their buffers allocated once
	out  []*flight // flights with a worker

	// Both are on the monotonic clock: they pace requests, they do not
	// age alerts (ages use Options.Clock against the alerts' receive time).
	firstSeen time.Time // when the scheduler first saw the alerts now waiting
	lastStart time.Time // when the last request went out

	scratch []item
	acked   uint64 // last checkpoint given to the Acker
	stuck   uint64 // lowest seq whose analysis could not be made durable; the checkpoint stays below it
}

// Run analyses offered alerts until ctx is done, and returns nil then.
//
// Batches go out newest first, at most MaxInFlight at once: the first
// alert after a lull waits a tenth of Window for company, a batch goes at
// once when MaxBatch alerts wait, and otherwise requests start at least
// Window apart. The model has until half of EditMaxAge after an alert was
// received to answer it: a request still out then is cut short, and an
// alert still waiting then gets the rules read at once unless the model is
// idle and nothing newer waits, so that its edit still goes out in time.
// An analysis ready after EditMaxAge is marked Late.
//
// With an Acker, alerts still queued or in flight when ctx ends are left
// unacknowledged, so the log redelivers them after a restart; without one
// they get the rules read before Run returns.
func (e *Enricher) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("cannot run enricher: already running")
	}
	defer e.running.Store(false)
	r := &runner{e: e, ctx: ctx, done: make(chan *flight, e.o.MaxInFlight), scratch: make([]item, 0, e.o.MaxBatch)}
	for range e.o.MaxInFlight {
		r.free = append(r.free, &flight{items: make([]item, 0, e.o.MaxBatch)})
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		e.runCascades(ctx)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := r.step()
		r.ack()
		if e.o.Acker != nil && (wait == 0 || wait > ackEvery) {
			wait = ackEvery // events that need no analysis move the checkpoint too
		}
		if wait > 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			r.stop()
			return nil
		case <-e.wake:
		case f := <-r.done:
			r.finish(f)
		case <-timer.C:
		}
	}
}

// step sends out what may go now and returns how long until it should look
// again; 0 means only a new alert or a finished request can change anything.
func (r *runner) step() time.Duration {
	e := r.e
	for {
		n := e.q.len()
		if n == 0 {
			r.firstSeen = time.Time{}
			return 0
		}
		mono := time.Now()
		if r.firstSeen.IsZero() {
			r.firstSeen = mono
		}
		now := e.now()
		old := e.q.countOlder(now.Add(-e.modelShare()).UnixNano())
		skip := e.gate(now, false)
		if old > 0 && (old < n || len(r.free) == 0 || skip != "") {
			// They have waited the model's share of the edit age, and the
			// model is wanted for newer alerts or cannot take them now.
			reason := event.ReasonBacklog
			if skip != "" {
				reason = skipReason[skip]
			}
			r.answerByRules(old, skip, reason)
			continue
		}
		if skip != "" {
			r.answerByRules(n, skip, skipReason[skip])
			continue
		}
		if len(r.free) == 0 {
			// Look again when the oldest waiting alert has had its share.
			if _, recv, ok := e.q.oldest(); ok {
				return max(time.Unix(0, recv).Add(e.modelShare()).Sub(now), time.Millisecond)
			}
			return 0
		}
		if n < e.o.MaxBatch {
			due := r.firstSeen.Add(e.o.Window / 10)
			if next := r.lastStart.Add(e.o.Window); next.After(due) {
				due = next
			}
			if d := due.Sub(mono); d > 0 {
				return d
			}
		}
		r.launch(now, mono)
	}
}

// answerByRules gives the k oldest waiting alerts the rules read now, in
// batches as the model would have had them.
func (r *runner) answerByRules(k int, skip, reason string) {
	e := r.e
	for k > 0 {
		batch := e.q.popOldest(r.scratch[:0], min(k, e.o.MaxBatch))
		if len(batch) == 0 {
			return
		}
		k -= len(batch)
		if skip != "" {
			e.m.skipped[skip].Inc()
		}
		r.noteStuck(e.fallback(batch, reason))
	}
}

// launch hands the newest waiting alerts to a worker.
func (r *runner) launch(now, mono time.Time) {
	e := r.e
	f := r.free[len(r.free)-1]
	f.items = e.q.popNewest(f.items[:0], e.o.MaxBatch)
	if len(f.items) == 0 {
		return
	}
	slices.Reverse(f.items) // taken newest first; asked about, and answered, in the order they happened
	if skip := e.gate(now, true); skip != "" {
		// The gate closed since step looked (another request failed).
		e.m.skipped[skip].Inc()
		r.noteStuck(e.fallback(f.items, skipReason[skip]))
		return
	}
	r.free = r.free[:len(r.free)-1]
	r.lastStart = mono
	f.minSeq, f.stuck, f.timeout = f.items[0].ev.Seq, 0, 0
	oldest := f.items[0].ev.RecvNs
	for i := range f.items {
		f.minSeq = min(f.minSeq, f.items[i].ev.Seq)
		oldest = min(oldest, f.items[i].ev.RecvNs)
	}
	if left := time.Unix(0, oldest).Add(e.modelShare()).Sub(now); left > 0 {
		f.timeout = left
	} else {
		f.timeout = 0 // past its share already (the model was idle): Timeout is the only bound
	}
	r.out = append(r.out, f)
	e.inflight.Add(1)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f.stuck = e.answer(r.ctx, f)
		r.done <- f
	}()
}

// finish takes a flight back from its worker.
func (r *runner) finish(f *flight) {
	for i, g := range r.out {
		if g == f {
			r.out = append(r.out[:i], r.out[i+1:]...)
			break
		}
	}
	r.e.inflight.Add(-1)
	r.noteStuck(f.stuck)
	r.free = append(r.free, f)
	r.ack()
}

func (r *runner) noteStuck(seq uint64) {
	if seq != 0 && (r.stuck == 0 || seq < r.stuck) {
		r.stuck = seq
	}
	r.ack()
}

// ack moves the checkpoint to just below the oldest alert whose analysis
// is not durable yet: one still queued, one in flight, or one that could
// not be stored.
func (r *runner) ack() {
	e := r.e
	if e.o.Acker == nil {
		return
	}
	// Read seen first: an alert offered after this has a higher seq, and
	// one offered before is in the queue by now (Offer pushes, then sees).
	w := e.seen.Load()
	if seq, _, ok := e.q.oldest(); ok {
		w = min(w, below(seq))
	}
	for _, f := range r.out {
		w = min(w, below(f.minSeq))
	}
	if r.stuck != 0 {
		w = min(w, below(r.stuck))
	}
	if w > r.acked {
		e.o.Acker.Ack(AckSink, w)
		r.acked = w
	}
}

// modelShare is how long after an alert was received the model may still
// be asked about it and answer: half the edit age, which leaves the other
// half for the rules read and the edit when the model is slow or down.
func (e *Enricher) modelShare() time.Duration { return e.o.EditMaxAge / 2 }

func below(seq uint64) uint64 {
	if seq == 0 {
		return 0
	}
	return seq - 1
}

// stop waits for the workers once ctx has ended.
func (r *runner) stop() {
	r.wg.Wait()
	for len(r.out) > 0 {
		r.finish(<-r.done)
	}
	e := r.e
	if e.o.Acker == nil {
		// Nothing will redeliver them: the rules read now.
		r.answerByRules(e.q.len(), skipShutdown, event.ReasonShutdown)
		return
	}
	if n := e.q.len(); n > 0 || r.stuck != 0 {
		e.log.Info("enrichment stopped with analyses pending: the log redelivers them after a restart", "queued", n)
	}
	r.ack()
}

// answer is a worker's job: one batch from the model, or from the rules
// when the model cannot answer in time. It returns the lowest seq left
// without a durable analysis, 0 if none.
func (e *Enricher) answer(run context.Context, f *flight) uint64 {
	var p pending
	batch := e.reuse(f.items, &p)
	if len(batch) == 0 {
		return p.seq
	}
	ctx := run
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(run, f.timeout, errEditDeadline)
		defer cancel()
	}
	e.process(run, ctx, batch, &p)
	return p.seq
}

// reuse delivers the stored analysis of each replayed alert that has one
// (it was made before a restart but not acknowledged) and returns the
// alerts still to answer, reusing batch's array.
func (e *Enricher) reuse(batch []item, p *pending) []item {
	if e.o.KV == nil {
		return batch
	}
	rest := batch[:0]
	for i := range batch {
		it := batch[i]
		if it.ev.Flags&event.FlagReplay != 0 {
			if a, ok, err := LoadAnalysis(e.o.KV, it.ev.Seq); err == nil && ok {
				e.m.reused.Inc()
				p.note(e.deliver(a, &it, false), it.ev.Seq)
				continue
			}
		}
		rest = append(rest, it)
	}
	return rest
}

// pending tracks the lowest seq of a batch left without a durable analysis.
type pending struct{ seq uint64 }

func (p *pending) note(durable bool, seq uint64) {
	if !durable && (p.seq == 0 || seq < p.seq) {
		p.seq = seq
	}
}
