package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/event"
)

// scanChunk is how many events a read transaction collects before the
// callback runs outside it: a slow consumer (replay at 1x) never holds a
// transaction open, which would stop bbolt reusing pages.
const scanChunk = 1024

// scanSlack is how far past `to` Scan keeps reading, so an event stamped
// slightly out of order (the wall clock stepped back) is still found.
const scanSlack = time.Minute

// Scan calls fn for each event whose receive time (RecvNs, the local clock,
// which orders the log) is in [from, to), in sequence order. A zero to means
// no upper bound. Events are found by binary search over sequence numbers,
// since the log is appended in receive order. The *event.Event is reused
// between calls. An error from fn stops the scan and is returned.
func (s *Store) Scan(from, to time.Time, fn func(*event.Event) error) error {
	fromNs := from.UnixNano()
	if from.IsZero() {
		fromNs = 0
	}
	toNs := int64(1<<63 - 1)
	if !to.IsZero() {
		toNs = to.UnixNano()
	}
	next, err := s.seekTime(fromNs)
	if err != nil {
		return err
	}
	err = s.scanSeq(next, func(ev *event.Event) (take, stop bool) {
		if ev.RecvNs >= toNs && (toNs > 1<<63-1-int64(scanSlack) || ev.RecvNs >= toNs+int64(scanSlack)) {
			return false, true
		}
		return ev.RecvNs >= fromNs && ev.RecvNs < toNs, false
	}, fn)
	if err != nil {
		return fmt.Errorf("cannot scan log: %w", err)
	}
	return nil
}

// scanSeq decodes the events from sequence number next on, in chunks of
// scanChunk read in one transaction each, and calls fn outside it for each
// event that filter takes, until filter says stop or the log ends. A
// record that does not decode is skipped, counted in
// liqbox_store_bad_records_total and logged once per scan: one damaged
// value must not make the rest of the log unreadable.
func (s *Store) scanSeq(next uint64, filter func(*event.Event) (take, stop bool), fn func(*event.Event) error) error {
	buf := make([]event.Event, 0, scanChunk)
	bad := 0
	var firstBad error
	defer func() {
		if bad > 0 {
			s.m.badRecords.Add(bad)
			s.log.Warn("skipped event records that do not decode", "records", bad, "first", firstBad)
		}
	}()
	for {
		buf = buf[:0]
		done := false
		err := s.view(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketEvents).Cursor()
			var kb [8]byte
			putSeq(kb[:], next)
			for k, v := c.Seek(kb[:]); ; k, v = c.Next() {
				if k == nil {
					done = true
					return nil
				}
				if len(buf) == scanChunk {
					next = binary.BigEndian.Uint64(k)
					return nil
				}
				var ev event.Event
				if err := decodeRecord(&ev, k, v); err != nil {
					if bad++; firstBad == nil {
						firstBad = err
					}
					continue
				}
				take, stop := filter(&ev)
				if stop {
					done = true
					return nil
				}
				if take {
					buf = append(buf, ev)
				}
			}
		})
		if err != nil {
			return err
		}
		for i := range buf {
			if err := fn(&buf[i]); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// seekTime returns the smallest sequence number whose event was received
// at or after ns (approximately, if the clock stepped back: Scan's filter
// then corrects).
func (s *Store) seekTime(ns int64) (uint64, error) {
	var seq uint64
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		k, v := c.First()
		if k == nil {
			return nil
		}
		if t, _ := recordRecvNs(v); t >= ns {
			seq = binary.BigEndian.Uint64(k)
			return nil
		}
		lo := binary.BigEndian.Uint64(k) // received before ns
		kl, _ := c.Last()
		hi := binary.BigEndian.Uint64(kl) + 1 // first candidate at or after ns
		var kb [8]byte
		for lo+1 < hi {
			mid := lo + (hi-lo)/2
			putSeq(kb[:], mid)
			k, v := c.Seek(kb[:]) // first stored seq >= mid
			if k == nil {
				hi = mid
				continue
			}
			if t, _ := recordRecvNs(v); t >= ns {
				hi = mid
			} else {
				lo = binary.BigEndian.Uint64(k)
			}
		}
		seq = hi
		return nil
	})
	return seq, err
}

// Info summarises the log.
type Info struct {
	Events      int       // number of events stored
	FirstSeq    uint64    // 0 when empty
	LastSeq     uint64    // 0 when empty
	First, Last time.Time // receive times of the first and last events
	FileBytes   int64     // size of the file on disk
	Schema      int       // schema version
}

// Info counts the events and reports the log's extent. It walks the
// events bucket's pages, so it costs a moment on a large log.
func (s *Store) Info() (Info, error) {
	var in Info
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		in.Events = b.Stats().KeyN
		c := b.Cursor()
		if k, v := c.First(); k != nil {
			in.FirstSeq = binary.BigEndian.Uint64(k)
			ns, _ := recordRecvNs(v)
			in.First = time.Unix(0, ns)
		}
		if k, v := c.Last(); k != nil {
			in.LastSeq = binary.BigEndian.Uint64(k)
			ns, _ := recordRecvNs(v)
			in.Last = time.Unix(0, ns)
		}
		if v := tx.Bucket(bucketMeta).Get(keySchema); len(v) == 8 {
			in.Schema = int(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	in.FileBytes = s.Size()
	if err != nil {
		return in, fmt.Errorf("cannot read log info: %w", err)
	}
	return in, nil
}

// Count returns the number of events in the log.
func (s *Store) Count() (int, error) {
	in, err := s.Info()
	return in.Events, err
}

// Redeliver gives back, with FlagReplay set, the persisted events after
// sink's checkpoint that were received within maxAge of now, in sequence
// order; older ones after the checkpoint are counted as skipped (never sent
// late as if new). It seeks the first young event by receive time, so an
// old checkpoint costs a binary search, not a scan of the days since.
//
// A sink without a checkpoint gets every young event and skips nothing:
// the store cannot tell a sink that never acknowledged anything (a chat
// whose first alert was in flight at a crash) from one that is new, and
// for crash recovery losing a young alert is worse than showing a newly
// added chat an alert from the last maxAge, marked as replayed and through
// the chat's own filters.
//
// fn runs outside any transaction, with an *event.Event reused between
// calls. Events still queued in memory are not included: call Redeliver at
// start, before the pipeline runs.
func (s *Store) Redeliver(sink string, maxAge time.Duration, now time.Time, fn func(*event.Event)) (redelivered, skipped int, err error) {
	s.amu.Lock()
	after, acked := s.acks[sink]
	s.amu.Unlock()
	cut := now.Add(-maxAge).UnixNano()
	from, err := s.seekTime(cut)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot redeliver to %s: %w", sink, err)
	}
	if acked && from <= after {
		from = after + 1
	}
	if acked {
		skipped, err = s.countRange(after+1, from)
		if err != nil {
			return 0, 0, fmt.Errorf("cannot redeliver to %s: %w", sink, err)
		}
	}
	err = s.scanSeq(from, func(ev *event.Event) (take, stop bool) {
		if ev.RecvNs < cut {
			// Stamped out of order (the clock stepped back): as old
			// as the ones before it.
			if acked {
				skipped++
			}
			return false, false
		}
		return true, false
	}, func(ev *event.Event) error {
		ev.Flags |= event.FlagReplay
		redelivered++
		fn(ev)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("cannot redeliver to %s: %w", sink, err)
	}
	s.m.redelivered.Add(redelivered)
	s.m.skipped.Add(skipped)
	return redelivered, skipped, nil
}

// countRange returns how many events the log holds with sequence numbers
// in [lo, hi). Sequence numbers are consecutive in the log except where
// retention deleted the oldest or the queue dropped some, so this is the
// span between the first stored one and hi: exact for the log as the
// pipeline writes it, without walking it.
func (s *Store) countRange(lo, hi uint64) (int, error) {
	if hi <= lo {
		return 0, nil
	}
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		var kb [8]byte
		putSeq(kb[:], lo)
		k, _ := tx.Bucket(bucketEvents).Cursor().Seek(kb[:])
		if k == nil {
			return nil
		}
		if first := binary.BigEndian.Uint64(k); first < hi {
			n = int(hi - first)
		}
		return nil
	})
	return n, err
}

// DedupKeys calls fn with every dedup key that has not expired at now, to
// seed the pipeline's in-memory dedup after a restart. fn runs outside any
// transaction.
func (s *Store) DedupKeys(now time.Time, fn func(key uint64)) error {
	var keys []uint64
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDedup).Cursor()
		var kb [8]byte
		binary.BigEndian.PutUint64(kb[:], uint64(now.UnixNano()))
		for k, _ := c.Seek(kb[:]); k != nil; k, _ = c.Next() {
			if len(k) == dedupEntryLen {
				keys = append(keys, binary.BigEndian.Uint64(k[8:]))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read dedup keys: %w", err)
	}
	for _, k := range keys {
		fn(k)
	}
	return nil
}
