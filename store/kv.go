package store

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Other packages keep small state in buckets of their own naming (chat
// settings, the update offset, LLM results and usage) through Get, Put,
// PutAsync, Delete, DeleteAsync and ForEach. Put and Delete commit before
// they return (one fsync each); PutAsync and DeleteAsync queue the write
// for the writer's next batch and return at once.
//
// Reads in the writing process see queued writes: Get and ForEach answer
// from the queue first, then from the file, so a Get after PutAsync returns
// the value put. A read-only open (another process) sees a queued write
// once its batch is committed, within BatchDelay. A key is written either
// synchronously or asynchronously, not both: between a queued write and a
// Put of the same key there is no order.

// maxAsyncValue bounds one queued value, so the queue's memory stays
// bounded (AsyncMax entries); larger values go through Put.
const maxAsyncValue = 64 << 10

// sideKey names one key of one bucket in the queue of side writes.
type sideKey struct{ bucket, key string }

// sideOp is a queued write: a value to put, or a delete. value is owned by
// the queue and never changed after it is queued (readers get it as is).
type sideOp struct {
	value []byte
	del   bool
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
	if len(bucket) > bolt.MaxKeySize {
		return fmt.Errorf("bucket name of %d bytes", len(bucket))
	}
	return nil
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return fmt.Errorf("empty key")
	}
	if len(key) > bolt.MaxKeySize {
		return fmt.Errorf("key of %d bytes, more than %d", len(key), bolt.MaxKeySize)
	}
	return nil
}

// Get returns a copy of the value at key in bucket, or nil if absent. In
// the writing process it sees writes queued by PutAsync and DeleteAsync.
func (s *Store) Get(bucket, key []byte) ([]byte, error) {
	if err := checkGeneric(bucket); err != nil {
		return nil, fmt.Errorf("cannot get from %s: %w", bucket, err)
	}
	if op, ok := s.sideGet(bucket, key); ok {
		if op.del {
			return nil, nil
		}
		return append([]byte{}, op.value...), nil
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
// commits (one fsync) before returning: not for the hot path; see PutAsync.
func (s *Store) Put(bucket, key, value []byte) error {
	if err := checkGeneric(bucket); err != nil {
		return fmt.Errorf("cannot put into %s: %w", bucket, err)
	}
	if err := checkKey(key); err != nil {
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

// Delete removes key from bucket; a missing key is not an error. It
// commits before returning; see DeleteAsync.
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

// PutAsync queues value (copied) for key in bucket and returns at once: the
// writer commits it in its next batch, with the events, never with a
// transaction or fsync of its own. A crash before that batch loses it (at
// most BatchDelay plus one commit). Later writes to the same key replace a
// queued one. It returns ErrQueueFull, and counts
// liqbox_store_async_dropped_total, when AsyncMax distinct keys are
// already queued (the disk is failing); nothing waits.
func (s *Store) PutAsync(bucket, key, value []byte) error {
	if err := s.checkAsync(bucket, key); err != nil {
		return fmt.Errorf("cannot queue a put into %s: %w", bucket, err)
	}
	if len(value) > maxAsyncValue {
		return fmt.Errorf("cannot queue a put into %s: value of %d bytes, more than %d (use Put)", bucket, len(value), maxAsyncValue)
	}
	if err := s.sidePut(string(bucket), string(key), sideOp{value: append([]byte{}, value...)}); err != nil {
		return fmt.Errorf("cannot queue a put into %s: %w", bucket, err)
	}
	return nil
}

// DeleteAsync queues the deletion of key from bucket, like PutAsync.
func (s *Store) DeleteAsync(bucket, key []byte) error {
	if err := s.checkAsync(bucket, key); err != nil {
		return fmt.Errorf("cannot queue a delete from %s: %w", bucket, err)
	}
	if err := s.sidePut(string(bucket), string(key), sideOp{del: true}); err != nil {
		return fmt.Errorf("cannot queue a delete from %s: %w", bucket, err)
	}
	return nil
}

func (s *Store) checkAsync(bucket, key []byte) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkGeneric(bucket); err != nil {
		return err
	}
	return checkKey(key)
}

// ForEach calls fn for each key and value in bucket, in key order, inside
// a read transaction: k and v are valid only during the call, and fn must
// not write to the store. In the writing process it sees queued writes.
func (s *Store) ForEach(bucket []byte, fn func(k, v []byte) error) error {
	if err := checkGeneric(bucket); err != nil {
		return fmt.Errorf("cannot read %s: %w", bucket, err)
	}
	return s.forEach(bucket, fn)
}

// forEach walks bucket merged with the writes queued for it. The queue is
// copied first and the read transaction begun after, so every key shows a
// value at least as new as when forEach was called: a write that a commit
// moves from the queue to the file in between is in the copy or in the
// file. (The other order could miss it in both.) The lock is not held
// across Begin, which can wait for the writer to grow the file: a queued
// write must never wait for the disk.
func (s *Store) forEach(bucket []byte, fn func(k, v []byte) error) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	defer catchCorrupt(&err)
	defer faultsPanic()()
	type kv struct {
		k  []byte
		op sideOp
	}
	var queued []kv
	s.smu.Lock()
	for _, m := range [2]map[sideKey]sideOp{s.inflight, s.pend} {
		for sk, op := range m {
			if sk.bucket == string(bucket) {
				if i := slices.IndexFunc(queued, func(q kv) bool { return string(q.k) == sk.key }); i >= 0 {
					queued[i].op = op // pend is newer than inflight
				} else {
					queued = append(queued, kv{[]byte(sk.key), op})
				}
			}
		}
	}
	s.smu.Unlock()
	tx, err := s.db.Begin(false)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	slices.SortFunc(queued, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	emit := func(q kv) error {
		if q.op.del {
			return nil
		}
		return fn(q.k, q.op.value)
	}
	if b := tx.Bucket(bucket); b != nil {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			for len(queued) > 0 && bytes.Compare(queued[0].k, k) < 0 {
				if err := emit(queued[0]); err != nil {
					return err
				}
				queued = queued[1:]
			}
			if len(queued) > 0 && bytes.Equal(queued[0].k, k) {
				if err := emit(queued[0]); err != nil {
					return err
				}
				queued = queued[1:]
				continue
			}
			if err := fn(k, v); err != nil {
				return err
			}
		}
	}
	for _, q := range queued {
		if err := emit(q); err != nil {
			return err
		}
	}
	return nil
}

// sidePut queues op, replacing a queued write to the same key, and nudges
// the writer.
func (s *Store) sidePut(bucket, key string, op sideOp) error {
	k := sideKey{bucket, key}
	s.smu.Lock()
	if !s.sideHasLocked(k) && s.sideLenLocked() >= s.opts.AsyncMax {
		s.smu.Unlock()
		s.m.asyncDropped.Inc()
		return ErrQueueFull
	}
	s.pend[k] = op
	s.smu.Unlock()
	s.nudge()
	return nil
}

// sideLenLocked is how many writes wait, queued or in a commit (or its
// retry); sideHasLocked whether one of them is to k. smu is held.
func (s *Store) sideLenLocked() int { return len(s.pend) + len(s.inflight) }

func (s *Store) sideHasLocked(k sideKey) bool {
	if _, ok := s.pend[k]; ok {
		return true
	}
	_, ok := s.inflight[k]
	return ok
}

// sideGet returns the newest queued write to key in bucket.
func (s *Store) sideGet(bucket, key []byte) (sideOp, bool) {
	if s.opts.ReadOnly {
		return sideOp{}, false
	}
	k := sideKey{string(bucket), string(key)}
	s.smu.Lock()
	defer s.smu.Unlock()
	if op, ok := s.pend[k]; ok {
		return op, true
	}
	op, ok := s.inflight[k]
	return op, ok
}

// nudge wakes the writer if it is idle; a writer gathering a batch only
// looks and keeps waiting.
func (s *Store) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
