package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/logthrottle"
	"github.com/liqbox/liqbox/retry"
)

// Append copies ev into the write queue and returns at once. It returns
// false, and counts liqbox_store_dropped_total, when the queue is full
// (the disk is slow or failing). It does not allocate. ev.Seq must be
// higher than every Seq appended before.
func (s *Store) Append(ev *event.Event) bool {
	s.qmu.Lock()
	if s.qlen == len(s.qbuf) {
		s.qmu.Unlock()
		s.m.dropped.Inc()
		return false
	}
	i := s.qhead + s.qlen
	if i >= len(s.qbuf) {
		i -= len(s.qbuf)
	}
	s.qbuf[i] = *ev
	s.qlen++
	n := s.qlen
	if ev.RecvNs > s.highRecv {
		s.highRecv = ev.RecvNs
	}
	s.qmu.Unlock()
	s.lastSeq.Store(ev.Seq)
	s.m.appended.Inc()
	// Wake the writer on the first event of a batch (an idle writer then
	// waits BatchDelay for company) and when a batch is full (it commits
	// now). The writer takes events from the queue only when it commits,
	// so n counts the whole batch.
	if n == 1 || n == s.opts.BatchMax {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// LastSeq returns the highest sequence number appended, or found in the
// log at open. The pipeline continues numbering after it.
func (s *Store) LastSeq() uint64 { return s.lastSeq.Load() }

// Durable returns the highest sequence number committed to disk.
func (s *Store) Durable() uint64 { return s.durable.Load() }

// Ack records that sink has delivered every event up to seq. It does not
// wait: the checkpoint is persisted with the next batch. Checkpoints only
// move forward. A sink is named by a non-empty string of at most 1 KiB
// (others are ignored: they could not be stored).
func (s *Store) Ack(sink string, seq uint64) {
	if sink == "" || len(sink) > maxSinkName {
		return
	}
	s.amu.Lock()
	if cur, ok := s.acks[sink]; !ok || seq > cur {
		s.acks[sink] = seq
		if _, ok := s.ackDirty[sink]; !ok {
			s.ackDirty[sink] = struct{}{}
		}
		s.amu.Unlock()
		s.nudge()
		return
	}
	s.amu.Unlock()
}

const maxSinkName = 1024

// Checkpoint returns the highest sequence number sink has acknowledged, or 0.
func (s *Store) Checkpoint(sink string) uint64 {
	s.amu.Lock()
	defer s.amu.Unlock()
	return s.acks[sink]
}

// writer is the state owned by Run's goroutine.
type writer struct {
	batch   []event.Event // events taken from the queue, not yet durable
	keys    []byte        // event keys for the current transaction
	vals    []byte        // encoded records for the current transaction
	dkeys   []byte        // dedup entries for the current transaction
	acks    []ackEntry
	side    map[sideKey]sideOp // s.inflight, taken by this commit
	gapSeq  uint64             // the gap ledger's sequence to persist
	run     []byte             // the run record, rewritten each commit
	clean   bool               // this commit marks the clean stop
	backoff time.Duration

	failLog logthrottle.Throttle // write errors' log lines
}

type ackEntry struct {
	sink string
	seq  uint64
}

const (
	logEvery   = 10 * time.Second
	backoffMin = 50 * time.Millisecond
	backoffMax = 5 * time.Second
	retainStep = 2000 // events deleted per retention transaction
)

// Run is the single writer: it commits queued events in groups, with the
// checkpoints, the other queued writes and the heartbeat, and applies
// retention. A failing disk is retried with backoff while events wait in
// memory (up to QueueLen; beyond that Append drops). When ctx ends Run
// flushes what is queued, records the clean stop and returns; it returns an
// error only if that final flush fails.
func (s *Store) Run(ctx context.Context) error {
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	if !s.runState.CompareAndSwap(0, 1) {
		return errors.New("cannot run the log writer twice")
	}
	w := s.newWriter()
	retain := time.NewTicker(s.opts.Retention.Interval)
	defer retain.Stop()
	delay := time.NewTimer(time.Hour)
	delay.Stop()
	defer delay.Stop()
	// heartbeat fires when the writer has committed nothing for Heartbeat.
	heartbeat := time.NewTimer(s.opts.Heartbeat)
	defer heartbeat.Stop()

	for {
		if len(w.batch) == 0 && !s.pending() {
			select {
			case <-ctx.Done():
				return s.stop(w)
			case <-s.wake:
			case <-retain.C:
				s.retain(ctx, time.Now())
			case <-heartbeat.C:
				if err := s.commit(w); err != nil {
					s.writeFailed(w, err)
				}
				heartbeat.Reset(s.opts.Heartbeat)
			}
			continue
		}
		// Something waits to be written: give it BatchDelay to gather
		// company, counted from now. Only a full batch ends the wait
		// early; a wake for anything else (the next event, an Ack) is
		// checked and slept on, or the second event would cut every
		// batch short. A backlog, or a retry after a failure, goes now.
		if w.backoff == 0 && s.queued() < s.opts.BatchMax {
			delay.Reset(s.opts.BatchDelay)
		wait:
			for {
				select {
				case <-ctx.Done():
					delay.Stop()
					return s.stop(w)
				case <-delay.C:
					break wait
				case <-s.wake:
					if s.queued() >= s.opts.BatchMax {
						delay.Stop()
						break wait
					}
				}
			}
		}
		s.takeBatch(w)
		err := s.commit(w)
		heartbeat.Reset(s.opts.Heartbeat)
		if err != nil {
			s.writeFailed(w, err)
			if !retry.Sleep(ctx, w.backoff) {
				return s.stop(w)
			}
			continue
		}
		w.backoff = 0
		select {
		case <-retain.C:
			s.retain(ctx, time.Now())
		default:
		}
	}
}

func (s *Store) newWriter() *writer {
	max := s.maxTx()
	return &writer{
		batch: make([]event.Event, 0, max),
		keys:  make([]byte, 0, max*seqKeyLen),
		vals:  make([]byte, 0, max*maxRecordLen),
		dkeys: make([]byte, 0, max*dedupEntryLen),
		run:   make([]byte, 0, runRecordLen),

		failLog: logthrottle.Throttle{Every: logEvery},
	}
}

// pending reports whether anything waits for a batch besides w.batch.
func (s *Store) pending() bool {
	if s.queued() > 0 || s.acksDirty() {
		return true
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	return len(s.pend) > 0 || len(s.inflight) > 0
}

// queued returns the number of events waiting in the queue (not yet taken
// into a batch).
func (s *Store) queued() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.qlen
}

// maxTx is the most events one transaction takes. A backlog (a burst, or
// the disk coming back after a failure) is committed in transactions larger
// than BatchMax: fsync dominates, so fewer, larger commits catch up faster.
func (s *Store) maxTx() int { return txBatchFactor * s.opts.BatchMax }

// txBatchFactor bounds a backlog transaction at this many BatchMax.
const txBatchFactor = 8

// takeBatch moves queued events into w.batch up to maxTx and reports
// whether the batch is non-empty.
func (s *Store) takeBatch(w *writer) bool {
	s.qmu.Lock()
	n := s.maxTx() - len(w.batch)
	if n > s.qlen {
		n = s.qlen
	}
	for i := 0; i < n; i++ {
		w.batch = append(w.batch, s.qbuf[s.qhead])
		s.qhead++
		if s.qhead == len(s.qbuf) {
			s.qhead = 0
		}
	}
	s.qlen -= n
	s.qmu.Unlock()
	return len(w.batch) > 0
}

func (s *Store) acksDirty() bool {
	s.amu.Lock()
	defer s.amu.Unlock()
	return len(s.ackDirty) > 0
}

// takeAcks copies the dirty checkpoints into w.acks. They are cleared only
// after a successful commit, by clearAcks.
func (s *Store) takeAcks(w *writer) {
	w.acks = w.acks[:0]
	s.amu.Lock()
	for sink := range s.ackDirty {
		w.acks = append(w.acks, ackEntry{sink, s.acks[sink]})
	}
	s.amu.Unlock()
}

func (s *Store) clearAcks(w *writer) {
	s.amu.Lock()
	for _, a := range w.acks {
		// A newer Ack that raced the commit stays dirty.
		if s.acks[a.sink] == a.seq {
			delete(s.ackDirty, a.sink)
		}
	}
	s.amu.Unlock()
}

// takeSide moves the queued side writes into s.inflight, where reads still
// see them until the commit succeeds (a failed commit keeps them there for
// the retry, newer writes to the same keys replacing them).
func (s *Store) takeSide(w *writer) {
	s.smu.Lock()
	for k, op := range s.pend {
		s.inflight[k] = op
	}
	clear(s.pend)
	w.side, w.gapSeq = s.inflight, s.gapSeq
	s.smu.Unlock()
}

func (s *Store) clearSide() {
	s.smu.Lock()
	clear(s.inflight)
	s.smu.Unlock()
}

// commit writes w.batch, its dedup keys, the dirty checkpoints, the side
// writes and the run record in one transaction (one fsync).
func (s *Store) commit(w *writer) error {
	s.takeAcks(w)
	s.takeSide(w)
	if s.failWrite != nil {
		if err := s.failWrite(); err != nil {
			return err
		}
	}
	start := time.Now()
	ttl := s.opts.DedupTTL.Nanoseconds()
	w.keys, w.vals, w.dkeys = w.keys[:0], w.vals[:0], w.dkeys[:0]
	w.run = encodeRun(w.run, s.started, start, w.clean)
	err := s.update(func(tx *bolt.Tx) error {
		evb := tx.Bucket(bucketEvents)
		ddb := tx.Bucket(bucketDedup)
		// The log is append-only by key: packed pages, no splits in half.
		evb.FillPercent = 1.0
		for i := range w.batch {
			ev := &w.batch[i]
			ko := len(w.keys)
			w.keys = binary.BigEndian.AppendUint64(w.keys, ev.Seq)
			vo := len(w.vals)
			w.vals = appendRecord(w.vals, ev)
			if err := evb.Put(w.keys[ko:ko+seqKeyLen], w.vals[vo:]); err != nil {
				return fmt.Errorf("cannot put event %d: %w", ev.Seq, err)
			}
			do := len(w.dkeys)
			w.dkeys = binary.BigEndian.AppendUint64(w.dkeys, uint64(ev.RecvNs+ttl))
			w.dkeys = binary.BigEndian.AppendUint64(w.dkeys, ev.Key())
			if err := ddb.Put(w.dkeys[do:do+dedupEntryLen], nil); err != nil {
				return fmt.Errorf("cannot put dedup key: %w", err)
			}
		}
		cpb := tx.Bucket(bucketCheckpoints)
		for _, a := range w.acks {
			var v [8]byte
			binary.BigEndian.PutUint64(v[:], a.seq)
			if err := cpb.Put([]byte(a.sink), v[:]); err != nil {
				return fmt.Errorf("cannot put checkpoint %q: %w", a.sink, err)
			}
		}
		if err := applySide(tx, w.side); err != nil {
			return err
		}
		if gb := tx.Bucket(bucketGaps); w.gapSeq > gb.Sequence() {
			if err := gb.SetSequence(w.gapSeq); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keyRun, w.run); err != nil {
			return fmt.Errorf("cannot put run record: %w", err)
		}
		s.fileBytes.Store(tx.Size())
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot commit batch of %d events: %w", len(w.batch), err)
	}
	s.m.commitSeconds.UpdateDuration(start)
	if n := len(w.batch); n > 0 {
		s.m.batches.Inc()
		s.m.batchSize.Update(float64(n))
		s.durable.Store(w.batch[n-1].Seq)
	}
	s.clearAcks(w)
	s.clearSide()
	w.batch = w.batch[:0]
	s.signalCommit()
	return nil
}

// applySide writes the queued side writes. The map is read under no lock:
// only the writer changes s.inflight, between commits.
func applySide(tx *bolt.Tx, side map[sideKey]sideOp) error {
	for k, op := range side {
		if op.del {
			if b := tx.Bucket([]byte(k.bucket)); b != nil {
				if err := b.Delete([]byte(k.key)); err != nil {
					return fmt.Errorf("cannot delete from %s: %w", k.bucket, err)
				}
			}
			continue
		}
		b, err := tx.CreateBucketIfNotExists([]byte(k.bucket))
		if err != nil {
			return fmt.Errorf("cannot create bucket %s: %w", k.bucket, err)
		}
		if err := b.Put([]byte(k.key), op.value); err != nil {
			return fmt.Errorf("cannot put into %s: %w", k.bucket, err)
		}
	}
	return nil
}

// writeFailed counts the error, logs it at most once per logEvery, and
// grows the backoff. The batch stays in w for the retry.
func (s *Store) writeFailed(w *writer, err error) {
	s.m.writeErrors.Inc()
	if n, ok := w.failLog.Allow(time.Now()); ok {
		s.log.Error("cannot write to the log; events wait in memory and alerts keep flowing",
			"err", err, "errors_since_last_log", n+1, "pending", len(w.batch))
	}
	w.backoff = retry.Backoff(w.backoff, backoffMin, backoffMax)
}

// stop flushes everything still queued at shutdown and records the clean
// stop in the run record, in the last commit.
func (s *Store) stop(w *writer) error {
	for {
		s.takeBatch(w)
		last := len(w.batch) < s.maxTx()
		w.clean = last
		if err := s.commit(w); err != nil {
			s.runState.Store(3)
			s.qmu.Lock()
			lost := len(w.batch) + s.qlen
			s.qmu.Unlock()
			s.m.dropped.Add(lost)
			return fmt.Errorf("cannot flush log at shutdown, %d events lost: %w", lost, err)
		}
		if last {
			s.runState.Store(2)
			return nil
		}
	}
}

// retain deletes events beyond the age and size limits, and expired dedup
// keys, in small transactions so the writer is never held for long.
func (s *Store) retain(ctx context.Context, now time.Time) {
	if err := s.retainOnce(ctx, now); err != nil {
		s.log.Warn("cannot apply log retention", "err", err)
	}
}

func (s *Store) retainOnce(ctx context.Context, now time.Time) error {
	// Expired dedup keys sort first (the key starts with the expiry).
	limit := make([]byte, 8)
	binary.BigEndian.PutUint64(limit, uint64(now.UnixNano()))
	for ctx.Err() == nil {
		n, err := s.deleteFront(bucketDedup, func(k, _ []byte) bool { return bytes.Compare(k[:8], limit) < 0 })
		if err != nil || n < retainStep {
			if err != nil {
				return err
			}
			break
		}
	}
	if age := s.opts.Retention.MaxAge; age > 0 {
		cut := now.Add(-age).UnixNano()
		for ctx.Err() == nil {
			n, err := s.deleteFront(bucketEvents, func(_, v []byte) bool {
				ns, ok := recordRecvNs(v)
				return !ok || ns < cut
			})
			if err != nil {
				return err
			}
			s.m.retained.Add(n)
			if n < retainStep {
				break
			}
		}
	}
	if max := s.opts.Retention.MaxBytes; max > 0 {
		for ctx.Err() == nil && s.liveBytes() > max {
			n, err := s.deleteFront(bucketEvents, func(_, _ []byte) bool { return true })
			if err != nil {
				return err
			}
			s.m.retained.Add(n)
			if n == 0 {
				break
			}
		}
	}
	return nil
}

// liveBytes is the file size minus its free pages: what the data needs.
// The file itself does not shrink (bbolt reuses freed pages), so this is
// what retention by size bounds.
func (s *Store) liveBytes() int64 {
	st := s.db.Stats()
	var size int64
	_ = s.view(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	return size - int64(st.FreePageN+st.PendingPageN)*int64(s.db.Info().PageSize)
}

// deleteFront deletes up to retainStep keys from the start of bucket while
// del says so, and returns how many it deleted.
func (s *Store) deleteFront(bucket []byte, del func(k, v []byte) bool) (int, error) {
	n := 0
	if s.failWrite != nil {
		if err := s.failWrite(); err != nil {
			return 0, err
		}
	}
	err := s.update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.First(); k != nil && n < retainStep; k, v = c.First() {
			if !del(k, v) {
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		return n, fmt.Errorf("cannot delete old entries from %s: %w", bucket, err)
	}
	return n, err
}
