package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The gap ledger. A gap is a stretch of time in which a stream was blind:
// the log is incomplete there. A gap is open while it lasts (End zero) and
// closed when the stream is live again; it is one record from the moment
// it opens, so a reader in another process (`liqbox gaps` while `liqbox
// run` runs) sees an ongoing gap once the batch that opened it is
// committed.
//
// The ledger never holds two gaps of one stream that overlap or touch:
// AddGap merges a gap into the stream's latest one when they do. That is
// what makes a crash one gap, not two: a gap open when the process died is
// closed at the run's last heartbeat when the next run opens the file, and
// the next run's downtime gap for that stream, which starts at that
// heartbeat, continues it.
//
// Record layout: key = start (8 bytes, Unix ns, big-endian) + id (8 bytes,
// big-endian, from the bucket's sequence); value = end (8 bytes, Unix ns;
// 0 while open), then venue, stream and cause, each a uvarint length and
// the bytes. The bucket gaps_open maps venue + "\x00" + stream to the key
// of that stream's open gap.

const (
	gapKeyLen    = 16
	maxGapField  = 256 // bytes of a venue, stream or cause
	causeJoin    = ", then "
	maxCauseJoin = 4 * maxGapField
)

// Gap is a stretch of time when a stream delivered nothing it should have
// (a disconnect, a silent subscription, liqbox not running).
type Gap struct {
	Venue, Stream string
	Start         time.Time
	End           time.Time // zero while the gap is open
	Cause         string
}

// IsOpen reports whether the gap is still going on.
func (g Gap) IsOpen() bool { return g.End.IsZero() }

// gapRec is the ledger's view of a stream's latest gap, kept in memory by
// the writing process so AddGap can merge.
type gapRec struct {
	key [gapKeyLen]byte
	g   Gap
}

func streamKey(venue, stream string) string { return venue + "\x00" + stream }

// AddGap records g in the ledger: an open gap (End zero) when a stream goes
// blind, the same gap closed (End set) when it is live again. A gap that
// overlaps or touches the stream's latest gap continues it: one record,
// the earlier start, the later end (or open), and both causes when they
// differ ("stale, then liqbox crashed"). AddGap queues the change for the
// writer's next batch and returns at once (no fsync of its own); Gaps in
// this process sees it immediately, another process once it is committed.
func (s *Store) AddGap(g Gap) error {
	if err := s.checkGap(g); err != nil {
		return fmt.Errorf("cannot record gap: %w", err)
	}
	sk := streamKey(g.Venue, g.Stream)
	s.smu.Lock()
	// At most three queued writes: the record, the old record's key, the
	// index.
	if s.sideLenLocked()+3 > s.opts.AsyncMax {
		s.smu.Unlock()
		s.m.asyncDropped.Inc()
		return fmt.Errorf("cannot record gap: %w", ErrQueueFull)
	}
	prev := s.gapLatest[sk]
	rec := &gapRec{g: g}
	if prev != nil && overlaps(prev.g, g) {
		rec.g = mergeGaps(prev.g, g)
		rec.key = prev.key
	} else {
		prev = nil
	}
	if prev == nil || !rec.g.Start.Equal(prev.g.Start) {
		if prev != nil {
			s.pend[sideKey{string(bucketGaps), string(prev.key[:])}] = sideOp{del: true}
		}
		s.gapSeq++
		binary.BigEndian.PutUint64(rec.key[:8], uint64(rec.g.Start.UnixNano()))
		binary.BigEndian.PutUint64(rec.key[8:], s.gapSeq)
	}
	s.gapLatest[sk] = rec
	s.pend[sideKey{string(bucketGaps), string(rec.key[:])}] = sideOp{value: encodeGapValue(rec.g)}
	if rec.g.IsOpen() {
		s.pend[sideKey{string(bucketGapsOpen), sk}] = sideOp{value: append([]byte{}, rec.key[:]...)}
	} else {
		s.pend[sideKey{string(bucketGapsOpen), sk}] = sideOp{del: true}
	}
	s.smu.Unlock()
	s.nudge()
	return nil
}

func (s *Store) checkGap(g Gap) error {
	switch {
	case s.opts.ReadOnly:
		return ErrReadOnly
	case s.closed.Load():
		return ErrClosed
	case g.Venue == "" || g.Stream == "":
		return errors.New("no venue or stream")
	case len(g.Venue) > maxGapField || len(g.Stream) > maxGapField || len(g.Cause) > maxGapField:
		return fmt.Errorf("a field is longer than %d bytes", maxGapField)
	case g.Start.IsZero() || g.Start.UnixNano() <= 0:
		return fmt.Errorf("bad start %v", g.Start)
	case !g.IsOpen() && g.End.Before(g.Start):
		return fmt.Errorf("end %v before start %v", g.End, g.Start)
	}
	return nil
}

// overlaps reports whether b overlaps or touches a, a stream's latest gap.
func overlaps(a, b Gap) bool {
	if !a.IsOpen() && a.End.Before(b.Start) {
		return false
	}
	return b.IsOpen() || !b.End.Before(a.Start)
}

// mergeGaps joins b, the newest report, into a, the stream's latest gap,
// which it overlaps. b says whether the gap is still open: an open a and a
// closed b is the gap ending, a closed a and an open b the gap going on.
func mergeGaps(a, b Gap) Gap {
	first, second := a, b
	if b.Start.Before(a.Start) {
		first, second = b, a
	}
	out := first
	switch {
	case b.IsOpen():
		out.End = time.Time{}
	case a.IsOpen() || b.End.After(a.End):
		out.End = b.End
	default:
		out.End = a.End
	}
	if second.Cause != "" && !strings.Contains(first.Cause, second.Cause) &&
		len(first.Cause)+len(causeJoin)+len(second.Cause) <= maxCauseJoin {
		if first.Cause == "" {
			out.Cause = second.Cause
		} else {
			out.Cause = first.Cause + causeJoin + second.Cause
		}
	}
	return out
}

// Gaps returns the gaps that ended at or after since, and every open one,
// oldest first. In the writing process it includes changes not yet
// committed. Read without a running writer (a read-only open of a file
// nobody writes), a gap the last run left open is reported as ending at
// that run's last heartbeat: the ledger speaks for the time liqbox ran,
// PreviousRun for the time since.
func (s *Store) Gaps(since time.Time) ([]Gap, error) {
	var clip time.Time
	if s.opts.ReadOnly && s.snapPath == "" && s.prevOK {
		clip = s.prev.LastAlive
	}
	var out []Gap
	bad := 0
	err := s.forEach(bucketGaps, func(k, v []byte) error {
		g, err := decodeGap(k, v)
		if err != nil {
			if bad++; bad == 1 {
				s.log.Warn("skipping a gap record that does not decode", "err", err)
			}
			return nil
		}
		if g.IsOpen() && !clip.IsZero() {
			g.End = clip
			if g.End.Before(g.Start) {
				g.End = g.Start
			}
		}
		if !g.IsOpen() && g.End.Before(since) {
			return nil
		}
		out = append(out, g)
		return nil
	})
	s.m.badRecords.Add(bad)
	if err != nil {
		return nil, fmt.Errorf("cannot read gaps: %w", err)
	}
	return out, nil
}

func encodeGapValue(g Gap) []byte {
	v := make([]byte, 8, 8+3*binary.MaxVarintLen64+len(g.Venue)+len(g.Stream)+len(g.Cause))
	if !g.IsOpen() {
		binary.BigEndian.PutUint64(v, uint64(g.End.UnixNano()))
	}
	for _, f := range []string{g.Venue, g.Stream, g.Cause} {
		v = binary.AppendUvarint(v, uint64(len(f)))
		v = append(v, f...)
	}
	return v
}

// decodeGap reads one ledger record. It refuses what AddGap cannot have
// written: a short key or value, a field running past the value or with
// its length not in the shortest form, trailing bytes, an end before the
// start.
func decodeGap(k, v []byte) (Gap, error) {
	if len(k) != gapKeyLen || len(v) < 8 {
		return Gap{}, fmt.Errorf("cannot decode gap record of %d+%d bytes: %w", len(k), len(v), ErrBadRecord)
	}
	start := int64(binary.BigEndian.Uint64(k))
	end := int64(binary.BigEndian.Uint64(v))
	if start <= 0 || end < 0 || (end != 0 && end < start) {
		return Gap{}, fmt.Errorf("cannot decode gap record: start %d, end %d: %w", start, end, ErrBadRecord)
	}
	g := Gap{Start: time.Unix(0, start)}
	if end != 0 {
		g.End = time.Unix(0, end)
	}
	rest := v[8:]
	for _, f := range [3]*string{&g.Venue, &g.Stream, &g.Cause} {
		n, w := binary.Uvarint(rest)
		// Only the shortest form, as AddGap writes it: one record, one
		// encoding.
		if w <= 0 || n > uint64(len(rest)-w) || w != len(binary.AppendUvarint(nil, n)) {
			return Gap{}, fmt.Errorf("cannot decode gap record field: %w", ErrBadRecord)
		}
		*f = string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	if len(rest) != 0 {
		return Gap{}, fmt.Errorf("cannot decode gap record: %d trailing bytes: %w", len(rest), ErrBadRecord)
	}
	return g, nil
}

// settleGaps runs at a writer's open: each gap the previous run left open
// is closed at that run's last heartbeat (it was blind at least until then,
// and nobody knows more), and remembered as its stream's latest gap so the
// new run's first gap for the stream continues it.
func (s *Store) settleGaps(tx *bolt.Tx, lastAlive time.Time) error {
	gb, ob := tx.Bucket(bucketGaps), tx.Bucket(bucketGapsOpen)
	s.gapSeq = gb.Sequence()
	type open struct{ sk, key []byte }
	var opens []open
	if err := ob.ForEach(func(sk, key []byte) error {
		opens = append(opens, open{slices.Clone(sk), slices.Clone(key)})
		return nil
	}); err != nil {
		return err
	}
	for _, o := range opens {
		if err := ob.Delete(o.sk); err != nil {
			return err
		}
		v := gb.Get(o.key)
		if v == nil {
			continue
		}
		g, err := decodeGap(o.key, v)
		if err != nil {
			s.log.Warn("dropping a damaged open gap record", "err", err)
			if err := gb.Delete(o.key); err != nil {
				return err
			}
			continue
		}
		if g.IsOpen() {
			g.End = lastAlive
			if g.End.Before(g.Start) {
				g.End = g.Start
			}
			if err := gb.Put(o.key, encodeGapValue(g)); err != nil {
				return err
			}
		}
		rec := &gapRec{g: g}
		copy(rec.key[:], o.key)
		s.gapLatest[streamKey(g.Venue, g.Stream)] = rec
	}
	return nil
}
