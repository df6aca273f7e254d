package service

import (
	"fmt"
	"math"
	"time"

	"github.com/liqbox/liqbox/buildinfo"
	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram"
)

// State is the box's state at one moment, built from the objects (the
// streams, their rings, the gap ledger, the store, enrichment, the bot,
// the stage histograms) by State. Telegram's /status, /api/status and the
// status page (which draws /api/status) all render this one model.
type State struct {
	Now     time.Time
	Version string
	Uptime  time.Duration
	// Health is what /healthz says is wrong; empty when healthy.
	Health []string
	Venues []VenueState       // in the order of the streams
	Conns  []ingest.ConnState // every connection slot of every stream
	Gaps   []store.Gap        // the ledger of the last 24 h
	Stages []StageJSON
	// USDPerMinute is the last hour of liquidated USD by side.
	USDPerMinute USDMinutesJSON
	// Clock is the offset estimate against the exchanges (plus network
	// latency); ClockKnown is false before any event.
	ClockKnown  bool
	ClockOffset float64 // seconds
	ClockBound  time.Duration
	RingDepth   int
	RingCap     int
	RingDrops   uint64
	LastSeq     uint64
	DiskBytes   int64
	DiskLimit   int64  // 0 when unbounded
	Enrichment  string // e.g. "ok", "circuit open", "budget exhausted", "off"
	// Enrich is the enrichment stage's state, rendered per language.
	Enrich   enrich.Status
	Telegram bool // the bot runs
	Shadow   bool
}

// VenueState is one venue, over all its streams.
type VenueState struct {
	Venue      string
	Configured int           // connection slots
	Connected  int           // slots connected
	Live       int           // connections open and subscribed
	LastFrame  time.Duration // age of the newest frame; negative if none yet
	Gaps24h    int
}

// State builds the box's state at now.
func (s *Service) State(now time.Time) State {
	st := State{
		Now: now, Version: buildinfo.Version(), Uptime: now.Sub(s.started),
		Health:       s.http.health(now),
		Stages:       s.http.lat.report(now),
		USDPerMinute: s.minutes.series(now),
		ClockBound:   s.cfg.HTTP.ClockWarn,
		LastSeq:      s.pipe.LastSeq(),
		DiskBytes:    s.store.Size(), DiskLimit: s.cfg.Store.RetentionBytes,
		Enrich:   s.enr.State(),
		Telegram: s.bot != nil,
		Shadow:   s.cfg.Telegram.Shadow || s.o.Shadow,
	}
	st.Enrichment = st.Enrich.String()
	byVenue := map[string]int{}
	for _, str := range s.streams {
		name := str.Spec().Venue.String()
		i, ok := byVenue[name]
		if !ok {
			i = len(st.Venues)
			byVenue[name] = i
			st.Venues = append(st.Venues, VenueState{Venue: name, LastFrame: -1})
		}
		vs := &st.Venues[i]
		vs.Live += str.Live()
		for _, cs := range str.States() {
			st.Conns = append(st.Conns, cs)
			vs.Configured++
			if cs.Connected {
				vs.Connected++
			}
			if !cs.LastFrame.IsZero() {
				// A frame that came after now is as fresh as it gets, not
				// "none yet" (which a negative age means).
				age := max(now.Sub(cs.LastFrame), 0)
				if vs.LastFrame < 0 || age < vs.LastFrame {
					vs.LastFrame = age
				}
			}
		}
		for _, rg := range str.Rings() {
			st.RingDepth += rg.Len()
			st.RingCap += rg.Cap()
			st.RingDrops += rg.Drops()
		}
	}
	if gaps, err := s.store.Gaps(now.Add(-24 * time.Hour)); err == nil {
		st.Gaps = gaps
		for _, g := range gaps {
			if i, ok := byVenue[g.Venue]; ok {
				st.Venues[i].Gaps24h++
			}
		}
	}
	if off := s.stages.clockOffset(); !math.IsNaN(off) {
		st.ClockKnown, st.ClockOffset = true, off
	}
	return st
}

// Status implements telegram.StatusSource: /status renders the state.
func (s *Service) Status() telegram.StatusReport {
	st := s.State(time.Now())
	r := telegram.StatusReport{Version: st.Version, Uptime: st.Uptime,
		RingDepth: st.RingDepth, RingCap: st.RingCap, RingDrops: st.RingDrops,
		DiskBytes: st.DiskBytes, DiskLimit: st.DiskLimit, Enrichment: st.Enrichment, Enrich: st.Enrich}
	for _, v := range st.Venues {
		r.Venues = append(r.Venues, telegram.VenueStatus{Venue: v.Venue, Connections: v.Connected,
			Configured: v.Configured, LastFrame: v.LastFrame, Gaps24h: v.Gaps24h})
	}
	if st.ClockKnown {
		r.ClockKnown = true
		r.ClockOffset = time.Duration(st.ClockOffset * 1e9)
		r.ClockBound = st.ClockBound
		r.ClockWarn = math.Abs(st.ClockOffset) > st.ClockBound.Seconds()
	}
	return r
}

// StatusJSON is /api/status: the facts of Telegram's /status plus what
// the status page draws. Field meanings are in the README.
type StatusJSON struct {
	Version        string         `json:"version"`
	NowMs          int64          `json:"now_ms"`
	UptimeS        float64        `json:"uptime_s"`
	Healthy        bool           `json:"healthy"`
	HealthProblems []string       `json:"health_problems"`
	Venues         []VenueJSON    `json:"venues"`
	Connections    []ConnJSON     `json:"connections"`
	Gaps24h        []GapJSON      `json:"gaps_24h"`
	Stages         []StageJSON    `json:"stages"`
	USDPerMinute   USDMinutesJSON `json:"usd_per_minute"`
	ClockOffsetS   *float64       `json:"clock_offset_s"`
	ClockWarnS     float64        `json:"clock_warn_s"`
	ClockWarn      bool           `json:"clock_warn"`
	Warnings       []string       `json:"warnings"`
	RingDepth      int            `json:"ring_depth"`
	RingCapacity   int            `json:"ring_capacity"`
	RingDrops      uint64         `json:"ring_drops"`
	LastSeq        uint64         `json:"last_seq"`
	DiskBytes      int64          `json:"disk_bytes"`
	DiskLimit      int64          `json:"disk_limit"`
	Enrichment     string         `json:"enrichment"`
	Telegram       bool           `json:"telegram_enabled"`
	Shadow         bool           `json:"shadow"`
}

// VenueJSON is one row of /api/status's "venues".
type VenueJSON struct {
	Venue      string   `json:"venue"`
	Live       int      `json:"live"`
	Configured int      `json:"configured"`
	State      string   `json:"state"` // "live", "degraded" (some connections down), "down"
	LastFrameS *float64 `json:"last_frame_age_s"`
	Gaps24h    int      `json:"gaps_24h"`
}

// ConnJSON is one row of /api/status's "connections".
type ConnJSON struct {
	Venue      string   `json:"venue"`
	Stream     string   `json:"stream"`
	Conn       int      `json:"conn"`
	Connected  bool     `json:"connected"`
	Frames     uint64   `json:"frames"`
	Connects   uint64   `json:"connects"`
	RTTMs      float64  `json:"rtt_ms"`
	LastFrameS *float64 `json:"last_frame_age_s"`
	Since      string   `json:"since,omitempty"`
}

// GapJSON is one row of /api/status's "gaps_24h".
type GapJSON struct {
	Venue   string  `json:"venue"`
	Stream  string  `json:"stream"`
	Start   string  `json:"start"`
	End     string  `json:"end"`
	Seconds float64 `json:"seconds"`
	Cause   string  `json:"cause"`
}

// StatusJSON renders the state at now as /api/status.
func (s *Service) StatusJSON(now time.Time) StatusJSON {
	st := s.State(now)
	out := StatusJSON{
		Version: st.Version, NowMs: now.UnixMilli(), UptimeS: st.Uptime.Seconds(),
		Healthy: len(st.Health) == 0, HealthProblems: st.Health,
		Venues: []VenueJSON{}, Connections: []ConnJSON{}, Gaps24h: []GapJSON{},
		Stages: st.Stages, USDPerMinute: st.USDPerMinute,
		ClockWarnS: st.ClockBound.Seconds(),
		Warnings:   []string{},
		RingDepth:  st.RingDepth, RingCapacity: st.RingCap, RingDrops: st.RingDrops,
		LastSeq:   st.LastSeq,
		DiskBytes: st.DiskBytes, DiskLimit: st.DiskLimit,
		Enrichment: st.Enrichment, Telegram: st.Telegram, Shadow: st.Shadow,
	}
	if out.HealthProblems == nil {
		out.HealthProblems = []string{}
	}
	for _, cs := range st.Conns {
		c := ConnJSON{Venue: cs.Venue, Stream: cs.Stream, Conn: cs.Conn, Connected: cs.Connected,
			Frames: cs.Frames, Connects: cs.Reconnect, RTTMs: float64(cs.RTT) / 1e6}
		if !cs.LastFrame.IsZero() {
			age := max(now.Sub(cs.LastFrame), 0).Seconds()
			c.LastFrameS = &age
		}
		if !cs.Since.IsZero() {
			c.Since = cs.Since.UTC().Format(time.RFC3339)
		}
		out.Connections = append(out.Connections, c)
	}
	for _, vs := range st.Venues {
		v := VenueJSON{Venue: vs.Venue, Live: vs.Live, Configured: vs.Configured, Gaps24h: vs.Gaps24h, State: "live"}
		switch {
		case v.Live == 0:
			v.State = "down"
		case v.Live < v.Configured:
			v.State = "degraded"
		}
		if vs.LastFrame >= 0 {
			age := vs.LastFrame.Seconds()
			v.LastFrameS = &age
		}
		out.Venues = append(out.Venues, v)
	}
	for _, g := range st.Gaps {
		out.Gaps24h = append(out.Gaps24h, GapJSON{Venue: g.Venue, Stream: g.Stream,
			Start: g.Start.UTC().Format(time.RFC3339), End: g.End.UTC().Format(time.RFC3339),
			Seconds: g.End.Sub(g.Start).Seconds(), Cause: g.Cause})
	}
	if st.ClockKnown {
		off := st.ClockOffset
		out.ClockOffsetS = &off
		if out.ClockWarnS > 0 && math.Abs(off) > out.ClockWarnS {
			out.ClockWarn = true
			out.Warnings = append(out.Warnings, fmt.Sprintf(
				"clock offset estimate %.3f s exceeds %.3f s: exchange→box latency is unreliable; check NTP (chronyc tracking)",
				off, out.ClockWarnS))
		}
	}
	if st.RingDrops > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d events dropped at full rings since start", st.RingDrops))
	}
	for _, p := range out.HealthProblems {
		out.Warnings = append(out.Warnings, "unhealthy: "+p)
	}
	return out
}
