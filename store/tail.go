package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/liqbox/liqbox/event"
)

// Following the log as it is committed: the bus publisher reads what the
// writer has made durable (ReadAfter), waits for the next commit
// (Committed) and acknowledges with a checkpoint of its own (Ack); the
// bus consumer holds its acknowledgements to the bus until the events and
// gaps it handed on are committed (Durable, Commits).

// ReadAfter fills dst (up to its capacity) with the committed events whose
// sequence number is above after, in sequence order, and returns it with
// the sequence number of the last record it looked at (after, when there
// was none): the next read starts there. Only committed events are ever
// read: a read transaction sees the last commit, never the batch the writer
// is preparing. A record that does not decode is skipped, counted in
// liqbox_store_bad_records_total and logged, and counts as looked at, so it
// is reported once.
func (s *Store) ReadAfter(after uint64, dst []event.Event) (evs []event.Event, last uint64, err error) {
	dst = dst[:0]
	last = after
	bad := 0
	var firstBad error
	err = s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		var kb [8]byte
		putSeq(kb[:], after+1)
		for k, v := c.Seek(kb[:]); k != nil && len(dst) < cap(dst); k, v = c.Next() {
			if len(k) == seqKeyLen {
				last = binary.BigEndian.Uint64(k)
			}
			dst = dst[:len(dst)+1]
			if err := decodeRecord(&dst[len(dst)-1], k, v); err != nil {
				dst = dst[:len(dst)-1]
				if bad++; firstBad == nil {
					firstBad = err
				}
			}
		}
		return nil
	})
	if bad > 0 {
		s.m.badRecords.Add(bad)
		s.log.Warn("skipped event records that do not decode", "records", bad, "first", firstBad)
	}
	if err != nil {
		return dst, last, fmt.Errorf("cannot read the log after %d: %w", after, err)
	}
	return dst, last, nil
}

// SeqSince returns the smallest sequence number of an event received at or
// after t (one past the last when none was), by a binary search on the
// receive time.
func (s *Store) SeqSince(t time.Time) (uint64, error) {
	seq, err := s.seekTime(t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("cannot search the log by time: %w", err)
	}
	if seq == 0 {
		seq = s.durable.Load() + 1
	}
	return seq, nil
}

// LookupCheckpoint returns sink's checkpoint and whether it has one: a
// sink that never acknowledged anything is not one whose checkpoint is 0.
func (s *Store) LookupCheckpoint(sink string) (uint64, bool) {
	s.amu.Lock()
	defer s.amu.Unlock()
	seq, ok := s.acks[sink]
	return seq, ok
}

// Commits returns how many write transactions this writer has committed.
// A write queued (Ack, PutAsync, AddGap) when Commits returned n is on
// disk once Commits returns n+2 or more: the commit in progress may have
// taken its batch before the write was queued, the next one holds it.
func (s *Store) Commits() uint64 { return s.commits.Load() }

// Committed returns a channel that is closed at the next successful commit,
// when Durable or Commits moves. Take it before looking for new data, then
// wait on it: a commit in between closes the channel already taken.
func (s *Store) Committed() <-chan struct{} {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.commitCh == nil {
		s.commitCh = make(chan struct{})
	}
	return s.commitCh
}

// signalCommit wakes the waiters of Committed. The writer calls it after
// every successful commit.
func (s *Store) signalCommit() {
	s.commits.Add(1)
	s.cmu.Lock()
	if s.commitCh != nil {
		close(s.commitCh)
		s.commitCh = nil
	}
	s.cmu.Unlock()
}

// HighRecvNs returns the latest receive time of the events appended (or
// in the log at open): where the log's receive-time order stands. An event
// appended much earlier than it would break that order, which every time
// search relies on (see Scan's slack).
func (s *Store) HighRecvNs() int64 {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.highRecv
}

// OrderSlack is how far an event's receive time may lie before HighRecvNs
// and still be found by every search of the log by time.
const OrderSlack = scanSlack
