package ring

import (
	"runtime"
	"sync"
	"testing"

	"github.com/liqbox/liqbox/event"
)

func TestPushPopOrderAndFull(t *testing.T) {
	r := New(5, nil)
	if r.Cap() != 8 {
		t.Fatalf("Cap = %d, want 8", r.Cap())
	}
	var ev event.Event
	for i := 0; i < 8; i++ {
		ev.Seq = uint64(i)
		if !r.Push(&ev) {
			t.Fatalf("push %d failed on a ring with room", i)
		}
	}
	ev.Seq = 99
	if r.Push(&ev) {
		t.Fatal("push into a full ring succeeded")
	}
	if r.Drops() != 1 {
		t.Fatalf("Drops = %d, want 1", r.Drops())
	}
	if r.Len() != 8 {
		t.Fatalf("Len = %d, want 8", r.Len())
	}
	for i := 0; i < 8; i++ {
		if !r.Pop(&ev) || ev.Seq != uint64(i) {
			t.Fatalf("pop %d: got seq %d", i, ev.Seq)
		}
	}
	if r.Pop(&ev) {
		t.Fatal("pop from an empty ring succeeded")
	}
	if r.Consumed() != 8 {
		t.Fatalf("Consumed = %d after 8 pops, want 8", r.Consumed())
	}
	r.Push(&ev)
	r.Push(&ev)
	r.Advance(len(r.Peek()))
	if r.Consumed() != 10 {
		t.Fatalf("Consumed = %d after Advance, want 10", r.Consumed())
	}
}

// TestStress pushes millions of events from several producers through a
// small ring and checks that the consumer sees every one exactly once, in
// each producer's order. Run it under -race: it is the ring's proof.
func TestStress(t *testing.T) {
	const producers = 4
	perProducer := 1_000_000
	if testing.Short() || raceEnabled {
		perProducer = 250_000
	}
	w := NewWaker()
	rings := make([]*Ring, producers)
	for p := range rings {
		rings[p] = New(1024, w)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			r := rings[p]
			var ev event.Event
			ev.Conn = uint8(p)
			for i := 1; i <= perProducer; i++ {
				ev.Seq = uint64(i)
				for !r.Push(&ev) {
					// Production readers drop on a full ring (counted);
					// here we retry so the count is exact.
					runtime.Gosched()
				}
			}
		}(p)
	}
	var last [producers]uint64
	total := 0
	batch := make([]event.Event, 64)
	for total < producers*perProducer {
		got := 0
		for _, r := range rings {
			n := r.PopBatch(batch)
			for _, ev := range batch[:n] {
				if ev.Seq != last[ev.Conn]+1 {
					t.Fatalf("producer %d: got seq %d after %d", ev.Conn, ev.Seq, last[ev.Conn])
				}
				last[ev.Conn] = ev.Seq
			}
			got += n
		}
		if got == 0 {
			w.Wait(done, rings...)
		}
		total += got
	}
	wg.Wait()
	close(done)
	var ev event.Event
	for _, r := range rings {
		if r.Pop(&ev) {
			t.Fatal("ring not empty after all events were consumed")
		}
	}
	for p, l := range last {
		if l != uint64(perProducer) {
			t.Fatalf("producer %d: last seq %d, want %d", p, l, perProducer)
		}
	}
}

func TestWaitWakesOnPush(t *testing.T) {
	w := NewWaker()
	r := New(8, w)
	done := make(chan struct{})
	got := make(chan uint64)
	go func() {
		var ev event.Event
		for !r.Pop(&ev) {
			w.Wait(done, r)
		}
		got <- ev.Seq
	}()
	ev := event.Event{Seq: 7}
	r.Push(&ev)
	if s := <-got; s != 7 {
		t.Fatalf("got %d, want 7", s)
	}
}

func TestWaitReturnsOnDone(t *testing.T) {
	w := NewWaker()
	r := New(8, w)
	done := make(chan struct{})
	close(done)
	w.Wait(done, r) // must return although nothing was pushed
}

func TestPeekAdvanceWraps(t *testing.T) {
	r := New(4, nil)
	var ev event.Event
	for i := 1; i <= 3; i++ {
		ev.Seq = uint64(i)
		r.Push(&ev)
	}
	if v := r.Peek(); len(v) != 3 || v[0].Seq != 1 {
		t.Fatalf("Peek = %d events", len(v))
	}
	r.Advance(3)
	for i := 4; i <= 6; i++ { // wraps past the end of the array
		ev.Seq = uint64(i)
		r.Push(&ev)
	}
	var got []uint64
	for v := r.Peek(); len(v) > 0; v = r.Peek() {
		for _, e := range v {
			got = append(got, e.Seq)
		}
		r.Advance(len(v))
	}
	if len(got) != 3 || got[0] != 4 || got[2] != 6 {
		t.Fatalf("after wrap got %v, want [4 5 6]", got)
	}
}
