package enrich

import (
	"sync"

	"github.com/liqbox/liqbox/event"
)

// item is one queued alert with the context snapshotted when it was offered.
type item struct {
	ev event.Event
	cx alertContext
}

// queue is a bounded FIFO of alerts that drops its oldest entry when full,
// because a fresh alert's analysis is worth more than a stale one's.
type queue struct {
	mu   sync.Mutex // guards buf, head, n
	buf  []item     // fixed capacity, allocated once
	head int        // index of the oldest item
	n    int        // items held
}

// push appends *it, reporting whether the oldest item was dropped for it.
func (q *queue) push(it *item) (dropped bool) {
	q.mu.Lock()
	if q.n == len(q.buf) {
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		dropped = true
	}
	q.buf[(q.head+q.n)%len(q.buf)] = *it
	q.n++
	q.mu.Unlock()
	return dropped
}

// pop moves up to max of the oldest items onto dst.
func (q *queue) pop(dst []item, max int) []item {
	q.mu.Lock()
	for q.n > 0 && len(dst) < max {
		dst = append(dst, q.buf[q.head])
		q.buf[q.head] = item{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
	}
	q.mu.Unlock()
	return dst
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
