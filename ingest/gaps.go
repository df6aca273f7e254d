package ingest

import (
	"time"
)

// Gap is an interval in which a stream had no live connection: liqbox was
// blind to that venue's liquidations. End is zero while the gap lasts.
type Gap struct {
	Venue  string
	Stream string
	Start  time.Time
	End    time.Time
	Cause  string
}

// GapRecorder persists the gap ledger (the store does). A Stream calls it
// from its own goroutine, never from a connection's reader, in order: OpenGap
// as soon as a gap is known (End zero), so that another process reading the
// ledger sees the blindness while it lasts; then RecordGap with the same
// Venue, Stream and Start and the End, which closes it. A gap still open
// when the stream stops is recorded as ending then. A start-up connect is a
// gap only once it has lasted startupGrace, and is opened then. Errors are
// logged, not retried.
type GapRecorder interface {
	OpenGap(g Gap) error
	RecordGap(g Gap) error
}

// startupGrace: the connect at start-up (without StreamOptions.DownSince)
// is not worth a gap unless it takes this long.
const startupGrace = 30 * time.Second

// openGap is the gap the stream is in, if any.
type openGap struct {
	open     bool
	start    time.Time
	cause    string
	reported bool // OpenGap queued: the ledger holds it
}

// counted reports whether the gap belongs in the ledger at now: every gap
// does but a start-up connect shorter than startupGrace.
func (g *openGap) counted(now time.Time) bool {
	return g.open && (g.cause != CauseStarting || now.Sub(g.start) >= startupGrace)
}

type ledgerOp struct {
	open bool // OpenGap, else RecordGap
	gap  Gap
}

// connUp counts a slot's newly live connection: the slot is connected, and
// the first connected slot ends the stream's gap.
func (s *Stream) connUp(sl *slot, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.liveConns++
	if sl.liveConns > 1 {
		return // the make-before-break replacement: the slot was connected
	}
	sl.connected.Store(true)
	if s.live.Add(1) == 1 {
		s.endGapLocked(now)
	}
}

// connDown takes a connection out of its slot; the last connected slot
// going leaves the stream blind since the latest moment any slot was still
// trustworthy.
func (s *Stream) connDown(sl *slot, from time.Time, cause string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl.liveConns--
	if sl.liveConns > 0 {
		return // the rotated-out connection: the replacement carries the slot
	}
	sl.connected.Store(false)
	sl.downFrom = from
	if s.live.Add(-1) > 0 || s.stopping {
		return
	}
	start := from
	for _, o := range s.slots {
		if o.downFrom.After(start) {
			start = o.downFrom
		}
	}
	s.beginGapLocked(start, cause, true)
}

// beginGapLocked opens a gap unless one is open; report queues it for the
// ledger at once (start-up gaps wait for startupGrace).
func (s *Stream) beginGapLocked(start time.Time, cause string, report bool) {
	if s.gap.open {
		return
	}
	s.gap = openGap{open: true, start: start, cause: cause}
	if report {
		s.reportGapLocked()
	}
}

func (s *Stream) reportGapLocked() {
	s.gap.reported = true
	s.queueLocked(ledgerOp{open: true, gap: s.gapValue(time.Time{})})
}

func (s *Stream) gapValue(end time.Time) Gap {
	return Gap{Venue: s.spec.Venue.String(), Stream: s.spec.Stream, Start: s.gap.start, End: end, Cause: s.gap.cause}
}

// endGapLocked closes the open gap at end, recording it if it counts.
func (s *Stream) endGapLocked(end time.Time) {
	if !s.gap.open {
		return
	}
	if !s.gap.reported && !s.gap.counted(end) {
		s.gap = openGap{}
		return
	}
	if !s.gap.reported {
		s.reportGapLocked()
	}
	gv := s.gapValue(end)
	s.gap = openGap{}
	s.lastGap = gv
	d := end.Sub(gv.Start)
	s.m.gaps.Inc()
	s.m.gapSeconds.Add(d.Seconds())
	s.log.Warn("stream was blind", "from", gv.Start.UTC().Format(time.RFC3339Nano), "for", d.Round(time.Millisecond).String(), "cause", gv.Cause)
	s.queueLocked(ledgerOp{gap: gv})
}

func (s *Stream) queueLocked(op ledgerOp) {
	if s.o.Gaps == nil {
		return
	}
	s.ledger = append(s.ledger, op)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// CurrentGap returns the gap the stream is in now, with its start and
// cause (End is zero), for the status model: the same gap the ledger holds
// as open. ok is false while a connection is live, and during a start-up
// connect shorter than 30 s.
func (s *Stream) CurrentGap() (Gap, bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.gap.counted(now) {
		return Gap{}, false
	}
	return s.gapValue(time.Time{}), true
}

// LastGap returns the latest gap the stream ended, with its End, for the
// status model: the ledger learns of the end from the housekeeping
// goroutine within its tick, and until then still holds the gap as open.
func (s *Stream) LastGap() (Gap, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastGap, !s.lastGap.End.IsZero()
}

// monitor is the stream's housekeeping goroutine: it hands the ledger its
// gaps (the store's disk write never runs on a connection's reader), opens
// a start-up gap that outlasted its grace, samples the decode-error rate
// and compares redundant connections. It drains the ledger before it
// returns.
func (s *Stream) monitor(quit <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	// The baseline: without it the first tick's sample would become the
	// base of DecodeErrorRate, and what failed in the stream's first
	// second would drop out of its first minute.
	s.rate.sample(time.Now(), s.m.decodeErrs.Get(), s.decoded.Load())
	for {
		select {
		case <-quit:
			s.flushLedger()
			return
		case <-s.wake:
			s.flushLedger()
		case now := <-t.C:
			s.mu.Lock()
			if s.gap.open && !s.gap.reported && s.gap.counted(now) {
				s.reportGapLocked()
			}
			s.mu.Unlock()
			s.rate.sample(now, s.m.decodeErrs.Get(), s.decoded.Load())
			s.compareSiblings(now)
			s.flushLedger()
		}
	}
}

func (s *Stream) flushLedger() {
	s.mu.Lock()
	ops := s.ledger
	s.ledger = nil
	s.mu.Unlock()
	for _, op := range ops {
		var err error
		if op.open {
			err = s.o.Gaps.OpenGap(op.gap)
		} else {
			err = s.o.Gaps.RecordGap(op.gap)
		}
		if err != nil {
			s.log.Error("cannot record gap", "err", err, "open", op.open)
		}
	}
}
