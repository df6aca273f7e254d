package store

import (
	"path/filepath"
	"testing"
	"time"
)

// A batch waits BatchDelay from its first event: neither the next event
// nor an Ack cuts it short (they used to, so at a real rate every commit
// held two or three events).
func TestBatchWaitsForItsDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{BatchDelay: delay})
	start := time.Now()
	for i := uint64(1); i <= 3; i++ {
		ev := mkEvent(i, t0)
		r.Append(&ev)
		r.Ack("chat:1", i)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(delay/2 - time.Since(start))
	if d := r.Durable(); d != 0 {
		t.Fatalf("seq %d durable %v after the first event, before BatchDelay %v: the batch was cut short", d, time.Since(start), delay)
	}
	waitDurable(t, r.Store, 3)
	if took := time.Since(start); took < delay {
		t.Errorf("committed after %v, before BatchDelay %v", took, delay)
	}
	if n := r.m.batches.Get(); n != 1 {
		t.Errorf("%d commits for three events within BatchDelay, want 1", n)
	}
	waitFor(t, "the checkpoint to be persisted", func() bool { return !r.acksDirty() })
}

// A full batch does not wait.
func TestFullBatchCommitsAtOnce(t *testing.T) {
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{BatchDelay: time.Hour, BatchMax: 50})
	for i := uint64(1); i <= 50; i++ {
		ev := mkEvent(i, t0)
		r.Append(&ev)
	}
	waitDurable(t, r.Store, 50)
}

// An Ack alone is persisted within BatchDelay, though no event follows.
func TestAckAloneIsCommitted(t *testing.T) {
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{BatchDelay: 20 * time.Millisecond})
	r.Ack("enrich", 7)
	waitFor(t, "the checkpoint to be persisted", func() bool { return !r.acksDirty() })
}

// At a steady rate, commits hold about BatchDelay's worth of events.
func TestGroupCommitAtAPacedRate(t *testing.T) {
	r := startStore(t, filepath.Join(t.TempDir(), "log.db"), Options{BatchDelay: 30 * time.Millisecond})
	const n = 200
	start := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
		ev := mkEvent(uint64(i+1), t0)
		r.Append(&ev)
	}
	waitDurable(t, r.Store, n)
	// 1 event per ms and a 30 ms delay: about 30 per commit; the old
	// writer made 2 or 3.
	if per := float64(n) / float64(r.m.batches.Get()); per < 8 {
		t.Errorf("%.1f events per commit at 1,000 events/s with a 30 ms delay: group commit is not grouping", per)
	}
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
