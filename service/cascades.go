package service

import (
	"time"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// The cascade rules run beside the pipeline: the engine is the pipeline's
// second sink (after the raw alerts), its Run checks the open cascades
// once a second in the sinks' stage, and cascadeFanout hands what it
// fires to the bot (the chat's alert path), the enrichment stage (one
// request per cascade) and the observation hook.

// maxCascadeSeed bounds how far back the engine is rebuilt at start.
const maxCascadeSeed = 48 * time.Hour

// cascadeFanout is the rule engine's Sink. Its calls come with the
// engine's lock held: each hands on and returns.
type cascadeFanout struct{ s *Service }

func (f cascadeFanout) Opened(x *cascade.Snapshot) {
	s := f.s
	if s.bot != nil {
		s.bot.CascadeOpened(x)
		if !x.Resumed { // a resumed cascade had its analysis before the restart
			owner, id := x.Owner, x.ID
			s.enr.AnalyseCascade(enrichCascade(x), func(a event.Analysis) { s.bot.CascadeAnalysis(owner, id, a) })
		}
	}
	if s.o.Observer.Cascade != nil {
		s.o.Observer.Cascade(x)
	}
}

func (f cascadeFanout) Updated(x *cascade.Snapshot) {
	if f.s.bot != nil {
		f.s.bot.CascadeUpdated(x)
	}
	if f.s.o.Observer.Cascade != nil {
		f.s.o.Observer.Cascade(x)
	}
}

func (f cascadeFanout) Closed(x *cascade.Snapshot) {
	if f.s.bot != nil {
		f.s.bot.CascadeClosed(x)
	}
	if f.s.o.Observer.Cascade != nil {
		f.s.o.Observer.Cascade(x)
	}
}

// enrichCascade is what the model is told of a cascade.
func enrichCascade(x *cascade.Snapshot) enrich.Cascade {
	c := enrich.Cascade{Sides: x.Rule.Sides.String(), Window: x.Rule.Window, ThresholdUSD: x.Rule.USD, TotalUSD: x.USD(),
		Count: int(x.Total.N), UnknownSize: int(x.Unknown), Started: time.Unix(0, x.StartNs), Fired: time.Unix(0, x.FiredNs),
		LowerBound: x.LowerBound(), Largest: append([]event.Event(nil), x.Largest()...)}
	if !x.Rule.All() {
		c.Asset = x.Rule.Asset.String()
	}
	for v, t := range x.Venues {
		if t.N > 0 {
			c.Venues = append(c.Venues, enrich.CascadeVenue{Venue: event.Venue(v).String(), USD: t.USD(), Count: int(t.N), Sampled: x.Sampled(event.Venue(v))})
		}
	}
	return c
}

// seedCascades rebuilds the rule engine's windows from the log before the
// pipeline starts, back over the longest rule's window (or to the start of
// a cascade whose message the last run was keeping current), so that a
// restart neither forgets a pile-up in progress nor alerts one its chats
// were told about; then the bot closes the messages of cascades that ended
// while the box was down.
func (s *Service) seedCascades(st *store.Store, now time.Time) {
	if s.bot == nil {
		return
	}
	from := now.Add(-s.casc.MaxWindow())
	if at := s.bot.CascadeSeedFrom(); !at.IsZero() && at.Before(from) {
		from = at
	}
	if oldest := now.Add(-maxCascadeSeed); from.Before(oldest) {
		from = oldest
	}
	if s.casc.MaxWindow() > 0 {
		t0 := time.Now()
		n, err := s.casc.Seed(func(fn func(*event.Event) error) error { return st.Scan(from, time.Time{}, fn) }, now.UnixNano())
		if err != nil {
			s.log.Warn("cannot rebuild the cascade windows from the log; a pile-up in progress is counted from now", "err", err)
		} else if n > 0 {
			s.log.Info("rebuilt the cascade windows from the log", "events", n, "took", time.Since(t0).Round(time.Millisecond).String())
		}
	}
	s.bot.CascadesRestored()
}
