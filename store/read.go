package store

import (
	"bytes"
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
	buf := make([]event.Event, 0, scanChunk)
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
					return err
				}
				if ev.RecvNs >= toNs && (toNs > 1<<63-1-int64(scanSlack) || ev.RecvNs >= toNs+int64(scanSlack)) {
					done = true
					return nil
				}
				if ev.RecvNs >= fromNs && ev.RecvNs < toNs {
					buf = append(buf, ev)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("cannot scan log: %w", err)
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
// sink's checkpoint that were received within maxAge of now; older ones are
// counted as skipped (never sent late as if new). fn runs outside any
// transaction. Events still queued in memory are not included.
func (s *Store) Redeliver(sink string, maxAge time.Duration, now time.Time, fn func(*event.Event)) (redelivered, skipped int, err error) {
	after := s.Checkpoint(sink)
	cut := now.Add(-maxAge).UnixNano()
	var out []event.Event
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		var kb [8]byte
		putSeq(kb[:], after+1)
		for k, v := c.Seek(kb[:]); k != nil; k, v = c.Next() {
			ns, ok := recordRecvNs(v)
			if !ok || ns < cut {
				skipped++
				continue
			}
			var ev event.Event
			if err := decodeRecord(&ev, k, v); err != nil {
				return err
			}
			ev.Flags |= event.FlagReplay
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("cannot redeliver to %s: %w", sink, err)
	}
	for i := range out {
		fn(&out[i])
	}
	s.m.redelivered.Add(len(out))
	s.m.skipped.Add(skipped)
	return len(out), skipped, nil
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

func checkGeneric(bucket []byte) error {
	for _, b := range internalBuckets {
		if bytes.Equal(b, bucket) {
			return fmt.Errorf("bucket %q is the store's own", bucket)
		}
	}
	if len(bucket) == 0 {
		return fmt.Errorf("empty bucket name")
	}
	return nil
}

// Get returns a copy of the value at key in bucket, or nil if absent.
func (s *Store) Get(bucket, key []byte) ([]byte, error) {
	if err := checkGeneric(bucket); err != nil {
		return nil, fmt.Errorf("cannot get from %s: %w", bucket, err)
	}
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			if v := b.Get(key); v != nil {
				out = append([]byte{}, v...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot get from %s: %w", bucket, err)
	}
	return out, nil
}

// Put stores value at key in bucket, creating the bucket if needed. It
// commits (one fsync) before returning: not for the hot path.
func (s *Store) Put(bucket, key, value []byte) error {
	if err := checkGeneric(bucket); err != nil {
		return fmt.Errorf("cannot put into %s: %w", bucket, err)
	}
	err := s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put(key, value)
	})
	if err != nil {
		return fmt.Errorf("cannot put into %s: %w", bucket, err)
	}
	return nil
}

// Delete removes key from bucket; a missing key is not an error.
func (s *Store) Delete(bucket, key []byte) error {
	if err := checkGeneric(bucket); err != nil {
		return fmt.Errorf("cannot delete from %s: %w", bucket, err)
	}
	err := s.update(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			return b.Delete(key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot delete from %s: %w", bucket, err)
	}
	return nil
}

// ForEach calls fn for each key and value in bucket, in key order, inside
// a read transaction: k and v are valid only during the call, and fn must
// not write to the store.
func (s *Store) ForEach(bucket []byte, fn func(k, v []byte) error) error {
	if err := checkGeneric(bucket); err != nil {
		return fmt.Errorf("cannot read %s: %w", bucket, err)
	}
	return s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			return b.ForEach(fn)
		}
		return nil
	})
}

// Gap is a stretch of time when a stream delivered nothing it should have
// (a disconnect, a dropped ring slot): the log is incomplete there.
type Gap struct {
	Venue, Stream string
	Start, End    time.Time
	Cause         string
}

// AddGap records a gap in the ledger.
func (s *Store) AddGap(g Gap) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketGaps)
		id, err := b.NextSequence()
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64(nil, uint64(g.Start.UnixNano()))
		k = binary.BigEndian.AppendUint64(k, id)
		v := binary.BigEndian.AppendUint64(nil, uint64(g.End.UnixNano()))
		for _, f := range []string{g.Venue, g.Stream, g.Cause} {
			v = binary.AppendUvarint(v, uint64(len(f)))
			v = append(v, f...)
		}
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("cannot record gap: %w", err)
	}
	return nil
}

// Gaps returns the gaps that ended at or after since, oldest first.
func (s *Store) Gaps(since time.Time) ([]Gap, error) {
	var out []Gap
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGaps).ForEach(func(k, v []byte) error {
			if len(k) != 16 || len(v) < 8 {
				return fmt.Errorf("bad gap record: %w", ErrBadRecord)
			}
			g := Gap{
				Start: time.Unix(0, int64(binary.BigEndian.Uint64(k))),
				End:   time.Unix(0, int64(binary.BigEndian.Uint64(v))),
			}
			if g.End.Before(since) {
				return nil
			}
			rest := v[8:]
			fields := [3]*string{&g.Venue, &g.Stream, &g.Cause}
			for _, f := range fields {
				n, w := binary.Uvarint(rest)
				if w <= 0 || uint64(len(rest)-w) < n {
					return fmt.Errorf("bad gap record: %w", ErrBadRecord)
				}
				*f = string(rest[w : w+int(n)])
				rest = rest[w+int(n):]
			}
			out = append(out, g)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read gaps: %w", err)
	}
	return out, nil
}
