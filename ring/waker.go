package ring

import "sync/atomic"

// Waker parks one consumer that drains several rings until a producer of
// any of them pushes. Producers pay one atomic load per push while the
// consumer is awake.
//
// The consumer parks as soon as every ring is empty instead of spinning:
// measured on a 2-vCPU box, a consumer that polls a producer's tail steals
// the cache line the producer stores to and slows each push about tenfold,
// while a parked consumer lets the producer fill a run that is then drained
// in one go. An idle box also burns no CPU this way. The cost is one wake-up
// (a few microseconds) for the first event after a quiet spell.
type Waker struct {
	_        [cacheLine]byte
	sleeping atomic.Uint32 // 1 while the consumer is parked or about to park
	_        [cacheLine - 4]byte
	ch       chan struct{}
}

// NewWaker returns a Waker.
func NewWaker() *Waker { return &Waker{ch: make(chan struct{}, 1)} }

// Wake wakes the consumer if it is parked. It never blocks.
func (w *Waker) Wake() {
	if w.sleeping.Load() != 0 && w.sleeping.CompareAndSwap(1, 0) {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}

// Wait parks the consumer until Wake is called or done is closed, unless
// one of rings already has events. A spurious return is possible; callers
// loop.
func (w *Waker) Wait(done <-chan struct{}, rings ...*Ring) {
	w.sleeping.Store(1)
	// Check after announcing the sleep: a push that landed before the store
	// saw sleeping == 0 and sent no wake-up.
	if anyReady(rings) {
		w.sleeping.Store(0)
		return
	}
	select {
	case <-w.ch:
	case <-done:
		w.sleeping.Store(0)
	}
}

func anyReady(rings []*Ring) bool {
	for _, r := range rings {
		if !r.Empty() {
			return true
		}
	}
	return false
}
