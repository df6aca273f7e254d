package ring

import (
	"runtime"
	"testing"

	"github.com/liqbox/liqbox/event"
)

// BenchmarkRing moves b.N events from one producer goroutine to one
// consumer through the ring, the way an ingest reader feeds the pipeline.
func BenchmarkRing(b *testing.B) {
	w := NewWaker()
	r := New(8192, w)
	done := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		var ev event.Event
		for i := 0; i < b.N; i++ {
			ev.Seq = uint64(i)
			for !r.Push(&ev) {
				// Full: wait for room without hammering the consumer's
				// cache line (production readers drop instead).
				for r.Len() == r.Cap() {
					runtime.Gosched()
				}
			}
		}
	}()
	var sum uint64
	for got := 0; got < b.N; {
		evs := r.Peek()
		if len(evs) == 0 {
			w.Wait(done, r)
			continue
		}
		for i := range evs {
			sum += evs[i].Seq
		}
		r.Advance(len(evs))
		got += len(evs)
	}
	_ = sum
}

// BenchmarkRingChannel is the same hand-off through a buffered channel, the
// obvious alternative, for comparison in the same run.
func BenchmarkRingChannel(b *testing.B) {
	ch := make(chan event.Event, 8192)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		var ev event.Event
		for i := 0; i < b.N; i++ {
			ev.Seq = uint64(i)
			ch <- ev
		}
	}()
	var sum uint64
	for i := 0; i < b.N; i++ {
		ev := <-ch
		sum += ev.Seq
	}
	_ = sum
}
