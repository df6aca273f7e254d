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

// queue is a bounded deque of alerts in the order they were offered (by
// sequence number, and so by receive time). Batches are taken from the
// newest end, because a fresh alert's analysis is worth more than a stale
// one's; the oldest end is where alerts too old for an edit are swept
// from, and what a full queue drops.
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
		q.buf[q.head] = item{}
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		dropped = true
	}
	q.buf[(q.head+q.n)%len(q.buf)] = *it
	q.n++
	q.mu.Unlock()
	return dropped
}

// popNewest moves up to max of the newest items onto dst, newest first.
func (q *queue) popNewest(dst []item, max int) []item {
	q.mu.Lock()
	for q.n > 0 && len(dst) < max {
		i := (q.head + q.n - 1) % len(q.buf)
		dst = append(dst, q.buf[i])
		q.buf[i] = item{}
		q.n--
	}
	q.mu.Unlock()
	return dst
}

// popOldest moves up to max of the oldest items onto dst, oldest first.
func (q *queue) popOldest(dst []item, max int) []item {
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

// countOlder counts the items at the oldest end received before cutNs.
func (q *queue) countOlder(cutNs int64) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := 0
	for k < q.n && q.buf[(q.head+k)%len(q.buf)].ev.RecvNs < cutNs {
		k++
	}
	return k
}

// oldest is the sequence number and receive time of the oldest item, if any.
func (q *queue) oldest() (seq uint64, recvNs int64, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return 0, 0, false
	}
	it := &q.buf[q.head]
	return it.ev.Seq, it.ev.RecvNs, true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
