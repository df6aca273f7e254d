// Package ring is the only hand-off on the hot path: bounded, lock-free,
// allocation-free queues of event.Event values from the ingest readers to
// the pipeline.
//
// Each connection's reader owns one Ring (single producer) and the pipeline
// drains every ring (single consumer). With one writer per index no
// compare-and-swap is needed: the producer alone advances tail, the consumer
// alone advances head, and each side keeps a private cached copy of the
// other's index so that it touches the other's cache line only when its
// cached view says the ring is full (producer) or empty (consumer).
//
// Invariant: 0 ≤ tail − head ≤ len(slots). Slots in [head, tail) hold
// published values owned by the consumer; all others are owned by the
// producer. The producer writes a slot before it publishes the new tail
// (atomic store, release) and the consumer reads tail (atomic load, acquire)
// before it reads the slot, so a value is never read before it is complete.
// Symmetrically the consumer finishes reading before it publishes the new
// head, so a slot is never overwritten while being read. Push never waits:
// when the ring is full it returns false and counts a drop, so a slow
// consumer can never stall a socket reader.
package ring

import (
	"sync/atomic"

	"github.com/liqbox/liqbox/event"
)

const cacheLine = 64

// Ring is a bounded single-producer single-consumer queue of events.
// The zero value is not usable: call New.
type Ring struct {
	_ [cacheLine]byte
	// Producer side.
	tail       atomic.Uint64 // next position to write; written by the producer only
	cachedHead uint64        // producer's last view of head
	_          [cacheLine - 16]byte
	// Consumer side.
	head       atomic.Uint64 // next position to read; written by the consumer only
	cachedTail uint64        // consumer's last view of tail
	_          [cacheLine - 16]byte
	drops      atomic.Uint64
	_          [cacheLine - 8]byte
	mask       uint64
	slots      []event.Event
	waker      *Waker
}

// New returns a ring holding up to size events (rounded up to a power of
// two, at least 2). Pushes wake w's waiting consumer; w may be nil.
func New(size int, w *Waker) *Ring {
	n := uint64(2)
	for n < uint64(size) {
		n <<= 1
	}
	return &Ring{mask: n - 1, slots: make([]event.Event, n), waker: w}
}

// Cap is the number of events the ring can hold.
func (r *Ring) Cap() int { return len(r.slots) }

// Len is the number of events waiting (a snapshot; safe from any goroutine).
func (r *Ring) Len() int {
	h := r.head.Load()
	t := r.tail.Load()
	if t < h {
		return 0
	}
	return int(t - h)
}

// Consumed is how many events the consumer has released (Pop, PopBatch,
// Advance) since New: the n-th push has been handled once Consumed ≥ n.
// Safe from any goroutine.
func (r *Ring) Consumed() uint64 { return r.head.Load() }

// Drops is how many pushes found the ring full.
func (r *Ring) Drops() uint64 { return r.drops.Load() }

// Push copies ev into the ring. It never blocks; it returns false, and counts
// a drop, when the ring is full. Producer only.
func (r *Ring) Push(ev *event.Event) bool {
	t := r.tail.Load()
	if t-r.cachedHead > r.mask {
		r.cachedHead = r.head.Load()
		if t-r.cachedHead > r.mask {
			r.drops.Add(1)
			return false
		}
	}
	r.slots[t&r.mask] = *ev
	r.tail.Store(t + 1)
	if r.waker != nil {
		r.waker.Wake()
	}
	return true
}

// Pop copies the oldest event into ev and reports whether there was one.
// Consumer only.
func (r *Ring) Pop(ev *event.Event) bool {
	h := r.head.Load()
	if h == r.cachedTail {
		r.cachedTail = r.tail.Load()
		if h == r.cachedTail {
			return false
		}
	}
	*ev = r.slots[h&r.mask]
	r.head.Store(h + 1)
	return true
}

// PopBatch copies up to len(dst) waiting events into dst and returns how
// many, publishing the new head once. Consumer only.
func (r *Ring) PopBatch(dst []event.Event) int {
	h := r.head.Load()
	if h == r.cachedTail {
		r.cachedTail = r.tail.Load()
	}
	n := int(r.cachedTail - h)
	if n == 0 {
		return 0
	}
	if n > len(dst) {
		n = len(dst)
	}
	for i := 0; i < n; i++ {
		dst[i] = r.slots[(h+uint64(i))&r.mask]
	}
	r.head.Store(h + uint64(n))
	return n
}

// Peek returns the oldest waiting events as a view into the ring, without
// copying: the contiguous run up to the end of the backing array, so it may
// be shorter than Len. The view stays valid, and unchanged, until Advance
// releases it. Consumer only.
func (r *Ring) Peek() []event.Event {
	h := r.head.Load()
	if h == r.cachedTail {
		r.cachedTail = r.tail.Load()
		if h == r.cachedTail {
			return nil
		}
	}
	start := h & r.mask
	end := start + (r.cachedTail - h)
	if end > uint64(len(r.slots)) {
		end = uint64(len(r.slots))
	}
	return r.slots[start:end]
}

// Advance releases the first n events of the last Peek to the producer.
// Consumer only.
func (r *Ring) Advance(n int) {
	r.head.Store(r.head.Load() + uint64(n))
}

// Empty reports whether nothing is waiting. Consumer only.
func (r *Ring) Empty() bool {
	return r.head.Load() == r.tail.Load()
}
