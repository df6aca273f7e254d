package ingest

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Redundant connections of a stream receive the same liquidations. A
// connection that keeps missing what its siblings delivered has a dead or
// partial subscription although its socket is fine: the monitor compares
// them once a second, counts each miss, and replaces a connection after
// siblingMissLimit misses in a row.
const (
	// siblingGrace is how long after a sibling a connection may deliver
	// the same liquidation (the venue pushes to both within milliseconds).
	siblingGrace = 2 * time.Second
	// siblingMissLimit misses in a row, with no hit between, replace the
	// connection: a sampled feed may show two connections different
	// liquidations now and then, never a run of them.
	siblingMissLimit = 5
	// siblingWarmup: a connection is held to the liquidations its siblings
	// got only from this long after it went live.
	siblingWarmup = time.Second
	keyRingSize   = 256
)

// keyRing holds the identities (event.Key) and receive times of the last
// keyRingSize liquidations a connection delivered. Its reader is the only
// writer; the monitor reads it concurrently through atomics.
type keyRing struct {
	n    atomic.Uint64
	keys [keyRingSize]atomic.Uint64
	at   [keyRingSize]atomic.Int64
}

func (r *keyRing) add(key uint64, recvNs int64) {
	i := r.n.Load()
	r.keys[i%keyRingSize].Store(key)
	r.at[i%keyRingSize].Store(recvNs)
	r.n.Store(i + 1)
}

type keyAt struct {
	key uint64
	at  int64
}

// snapshot appends the ring's entries, oldest first, skipping any the
// writer overwrote while they were read.
func (r *keyRing) snapshot(dst []keyAt) []keyAt {
	n1 := r.n.Load()
	lo := uint64(0)
	if n1 > keyRingSize {
		lo = n1 - keyRingSize
	}
	start := len(dst)
	for i := lo; i < n1; i++ {
		dst = append(dst, keyAt{r.keys[i%keyRingSize].Load(), r.at[i%keyRingSize].Load()})
	}
	if n2 := r.n.Load(); n2 > lo+keyRingSize {
		skip := min(int(n2-(lo+keyRingSize)), len(dst)-start)
		dst = append(dst[:start], dst[start+skip:]...)
	}
	return dst
}

// sibling is one live connection as the comparison sees it.
type sibling struct {
	c       *conn
	entries []keyAt
	keys    map[uint64]struct{}
	since   int64 // liveSince
	oldest  int64 // receive time of the oldest entry, when the ring is full
}

// compareSiblings judges, for every live connection, the liquidations its
// siblings delivered since the last check and at least siblingGrace ago.
func (s *Stream) compareSiblings(now time.Time) {
	if len(s.slots) < 2 || s.spec.RecvTime {
		return
	}
	var sibs []*sibling
	for _, sl := range s.slots {
		c := sl.cur.Load()
		if c == nil || c.keys == nil || c.state.Load() != connLive {
			continue
		}
		sb := &sibling{c: c, since: c.liveSince.Load(), keys: map[uint64]struct{}{}}
		sb.entries = c.keys.snapshot(nil)
		for _, e := range sb.entries {
			sb.keys[e.key] = struct{}{}
		}
		if len(sb.entries) == keyRingSize {
			sb.oldest = sb.entries[0].at
		}
		sibs = append(sibs, sb)
	}
	if len(sibs) < 2 {
		return
	}
	cutoff := now.Add(-siblingGrace).UnixNano()
	grace, warmup := int64(siblingGrace), int64(siblingWarmup)
	for _, a := range sibs {
		for _, e := range a.entries {
			if e.at <= a.c.judgedTo || e.at > cutoff {
				continue
			}
			for _, b := range sibs {
				if b == a || b.since > e.at-warmup || b.oldest > e.at-grace {
					continue // b was not up, or its ring no longer covers the time
				}
				if _, ok := b.keys[e.key]; ok {
					b.c.missRun = 0
					continue
				}
				b.c.missRun++
				b.c.sl.siblingMisses.Inc()
			}
		}
		a.c.judgedTo = cutoff
	}
	for _, b := range sibs {
		if b.c.missRun >= siblingMissLimit {
			b.c.sl.log.Warn("connection missed liquidations its siblings delivered; replacing it", "in_a_row", b.c.missRun)
			b.c.kill(now, &errKilled{cause: CauseMissedEvents,
				why: fmt.Sprintf("missed %d liquidations in a row that a redundant connection delivered", b.c.missRun)})
		}
	}
}
