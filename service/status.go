package service

import (
	"math"
	"time"

	"github.com/liqbox/liqbox/buildinfo"
	"github.com/liqbox/liqbox/telegram"
)

// Status implements telegram.StatusSource.
func (s *Service) Status() telegram.StatusReport {
	r := telegram.StatusReport{Version: buildinfo.Version(), Uptime: time.Since(s.started)}
	byVenue := map[string]*telegram.VenueStatus{}
	var order []string
	for _, str := range s.streams {
		name := str.Spec().Venue.String()
		vs := byVenue[name]
		if vs == nil {
			vs = &telegram.VenueStatus{Venue: name, LastFrame: -1}
			byVenue[name] = vs
			order = append(order, name)
		}
		for _, cs := range str.States() {
			vs.Configured++
			if cs.Connected {
				vs.Connections++
			}
			if !cs.LastFrame.IsZero() {
				age := time.Since(cs.LastFrame)
				if vs.LastFrame < 0 || age < vs.LastFrame {
					vs.LastFrame = age
				}
			}
		}
		for _, rg := range str.Rings() {
			r.RingDepth += rg.Len()
			r.RingCap += rg.Cap()
			r.RingDrops += rg.Drops()
		}
	}
	if gaps, err := s.store.Gaps(time.Now().Add(-24 * time.Hour)); err == nil {
		for _, g := range gaps {
			if vs := byVenue[g.Venue]; vs != nil {
				vs.Gaps24h++
			}
		}
	}
	for _, n := range order {
		r.Venues = append(r.Venues, *byVenue[n])
	}
	r.DiskBytes = s.store.Size()
	r.DiskLimit = s.cfg.Store.RetentionBytes
	st := s.enr.State()
	r.Enrichment = st.String()
	if off := s.stages.clockOffset(); !math.IsNaN(off) {
		r.ClockKnown = true
		r.ClockOffset = time.Duration(off * 1e9)
		r.ClockBound = s.cfg.HTTP.ClockWarn
		r.ClockWarn = math.Abs(off) > s.cfg.HTTP.ClockWarn.Seconds()
	}
	return r
}
