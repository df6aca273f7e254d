package store

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/event"
)

// TestReadAfterReturnsOnlyCommitted: an event queued but not yet committed
// is never read; once its batch commits, Committed has fired and the event
// reads back equal to what was appended, after a damaged record skipped.
func TestReadAfterReturnsOnlyCommitted(t *testing.T) {
	fail := errors.New("disk held")
	hold := true
	s, err := Open(filepath.Join(t.TempDir(), "log.db"), Options{BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	s.failWrite = func() error {
		mu.Lock()
		defer mu.Unlock()
		if hold {
			return fail
		}
		return nil
	}
	r := runStore(t, s)
	evs := make([]event.Event, 5)
	for i := range evs {
		evs[i] = mkEvent(uint64(i+1), t0.Add(time.Duration(i)*time.Second))
		r.Append(&evs[i])
	}
	time.Sleep(30 * time.Millisecond) // several failed commits
	buf := make([]event.Event, 0, 16)
	got, last, err := r.ReadAfter(0, buf)
	if err != nil || len(got) != 0 || last != 0 {
		t.Fatalf("read %d events (%v) while none is committed", len(got), err)
	}
	if r.Commits() != 0 {
		t.Fatalf("commits = %d while the disk fails", r.Commits())
	}
	ch := r.Committed()
	mu.Lock()
	hold = false
	mu.Unlock()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Committed never fired")
	}
	waitDurable(t, r.Store, 5)
	if r.Commits() == 0 {
		t.Fatal("Commits did not move")
	}
	if n := testing.AllocsPerRun(20, func() { r.ReadAfter(0, buf) }); n > 10 { // the read transaction's, none per event
		t.Errorf("ReadAfter allocates %v times per call", n)
	}
	if err := r.update(func(tx *bolt.Tx) error {
		var k [8]byte
		putSeq(k[:], 2)
		return tx.Bucket(bucketEvents).Put(k[:], []byte{1, 2, 3})
	}); err != nil {
		t.Fatal(err)
	}
	got, last, err = r.ReadAfter(0, buf)
	if err != nil || len(got) != 4 || last != 5 {
		t.Fatalf("read %d events up to %d, %v; want 4 (one damaged) up to 5", len(got), last, err)
	}
	for i, want := range []int{0, 2, 3, 4} {
		if !sameEvent(got[i], evs[want]) {
			t.Errorf("event %d: %+v, want %+v", i, got[i], evs[want])
		}
	}
	if got, last, _ := r.ReadAfter(1, buf[:0:2]); len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 4 || last != 4 {
		t.Errorf("ReadAfter(1) with room for 2: %+v up to %d", got, last)
	}
	if got, last, _ := r.ReadAfter(1, buf[:0:1]); len(got) != 1 || got[0].Seq != 3 || last != 3 {
		t.Errorf("ReadAfter(1) over the damaged record with room for 1: %+v up to %d", got, last)
	}
	if got, last, _ := r.ReadAfter(5, buf); len(got) != 0 || last != 5 {
		t.Errorf("ReadAfter past the end: %d events up to %d", len(got), last)
	}
}

func TestCheckpointPresenceAndTimeSearch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	r := startStore(t, path, Options{})
	if _, ok := r.LookupCheckpoint("bus:X"); ok {
		t.Fatal("a new sink has a checkpoint")
	}
	for i := uint64(1); i <= 10; i++ {
		ev := mkEvent(i, t0.Add(time.Duration(i)*time.Second))
		r.Append(&ev)
	}
	r.Ack("bus:X", 0)
	waitDurable(t, r.Store, 10)
	if seq, ok := r.LookupCheckpoint("bus:X"); !ok || seq != 0 {
		t.Errorf("checkpoint 0 acknowledged: %d %v", seq, ok)
	}
	if h := r.HighRecvNs(); h != t0.Add(10*time.Second).UnixNano() {
		t.Errorf("HighRecvNs = %v", time.Unix(0, h))
	}
	for _, tc := range []struct {
		at   time.Duration
		want uint64
	}{{0, 1}, {5 * time.Second, 5}, {5500 * time.Millisecond, 6}, {time.Hour, 11}} {
		if seq, err := r.SeqSince(t0.Add(tc.at)); err != nil || seq != tc.want {
			t.Errorf("SeqSince(+%v) = %d, %v; want %d", tc.at, seq, err, tc.want)
		}
	}
	r.stop(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if seq, ok := s.LookupCheckpoint("bus:X"); !ok || seq != 0 {
		t.Errorf("after reopening: %d %v", seq, ok)
	}
	if h := s.HighRecvNs(); h != t0.Add(10*time.Second).UnixNano() {
		t.Errorf("HighRecvNs after reopening = %v", time.Unix(0, h))
	}
}
