package service

import (
	"fmt"
	"math"
	"time"

	"github.com/liqbox/liqbox/buildinfo"
	"github.com/liqbox/liqbox/bus"
	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
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
	// Health is the /healthz verdict.
	Health Health
	Venues []VenueState       // in the order of the streams
	Conns  []ingest.ConnState // every connection slot of every stream
	// Gaps is the ledger of the last 24 h, oldest first, with the gaps
	// going on now (End zero): every stream that is blind at this moment
	// has one, even if the ledger could not store it.
	Gaps []store.Gap
	// Decode is each stream's decode-error rate over the last minute.
	Decode []DecodeState
	Stages []StageJSON
	// USDPerMinute is the last hour of liquidated USD by side.
	USDPerMinute USDMinutesJSON
	// TopAssets is the assets with the most USD liquidated over the last
	// hour and day across venues, as /stats shows them (the same log,
	// the same asset.Totals), read at most as often as topAssets allows.
	TopAssets TopAssets
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
	// Sources is each relayed venue's race between its own feed and the
	// relay (none without the relay).
	Sources []SourceState
	// Bus is the bus's state; nil when the box uses no bus.
	Bus *bus.Status
}

// VenueState is one venue, over all its streams.
type VenueState struct {
	Venue      string
	Configured int // connection slots
	// Live is the connection slots with a live connection (open,
	// subscribed, proven by a frame), a slot counted once during a
	// make-before-break rotation. /status, /api/status and the page all
	// show this one number.
	Live      int
	LastFrame time.Duration // age of the newest frame; negative if none yet
	Gaps24h   int           // gaps in the last 24 h, the ongoing ones included
	// Coverage is what the venue's feed carries now: whether its figures
	// are complete or a lower bound, and the venue's rule.
	Coverage event.VenueCoverage
}

// DecodeState is one stream's decode failures over the last minute
// (ingest.Stream.DecodeErrorRate) and what they mean for health.
type DecodeState struct {
	Venue, Stream  string
	Ratio          float64 // Errors / Frames, 0 without frames
	Errors, Frames uint64
	Level          string // HealthOK, HealthDegraded or HealthFailed
}

// Decode-error thresholds, over the last minute of a stream. A few bad
// frames are a venue's quirk (each is counted and logged anyway); more than
// decodeWarnRatio of the frames is a format the decoders no longer follow
// in part: the stream is degraded, and /status, /api/status, the page and
// /healthz (still 200) say so. Past decodeFailRatio the box is blind to
// most of what the venue sends, as surely as without a connection, and
// /healthz fails. decodeMinErrors keeps one or two bad frames in a quiet
// minute from counting as a rate; there is no minimum of frames, so a
// quiet stream whose every liquidation fails is still caught.
const (
	decodeMinErrors = 3
	decodeWarnRatio = 0.01
	decodeFailRatio = 0.5
)

// decodeLevel grades a stream's last minute of decoding.
func decodeLevel(ratio float64, errs uint64) string {
	switch {
	case errs < decodeMinErrors || ratio <= decodeWarnRatio:
		return HealthOK
	case ratio <= decodeFailRatio:
		return HealthDegraded
	}
	return HealthFailed
}

// decodeStates reads every stream's decode-error rate.
func (s *Service) decodeStates() []DecodeState {
	out := make([]DecodeState, 0, len(s.streams))
	for _, str := range s.streams {
		r, e, f := str.DecodeErrorRate()
		out = append(out, DecodeState{Venue: str.Spec().Venue.String(), Stream: str.Spec().Stream,
			Ratio: r, Errors: e, Frames: f, Level: decodeLevel(r, e)})
	}
	return out
}

// problem is the line /healthz, /status and the page give a stream over
// the threshold.
func (d DecodeState) problem() string {
	limit, what := decodeWarnRatio, ""
	if d.Level == HealthFailed {
		limit, what = decodeFailRatio, ": blind to most of its frames"
	}
	return fmt.Sprintf("%s %s: %d of %d frames failed to decode in the last minute (%.1f %%, over %g %%)%s",
		d.Venue, d.Stream, d.Errors, d.Frames, 100*d.Ratio, 100*limit, what)
}

// GapLength is how long g lasted, or, while it is open, has lasted by now;
// never negative (a clock stepped back reads as 0).
func GapLength(g store.Gap, now time.Time) time.Duration {
	end := g.End
	if g.IsOpen() {
		end = now
	}
	return max(0, end.Sub(g.Start))
}

// withCurrentGaps brings the ledger's gaps up to the streams' own word. A
// gap the stream has ended while the ledger still holds it open (the end
// is on its way, within the stream's housekeeping tick) is shown ended.
// The one each stream is in now is added when the ledger has no open gap
// for that stream: a gap it could not store (a full write queue on a
// failing disk) is still shown while it lasts.
func (s *Service) withCurrentGaps(gaps []store.Gap) []store.Gap {
	open := map[[2]string]bool{}
	for i, g := range gaps {
		if !g.IsOpen() {
			continue
		}
		for _, str := range s.streams {
			if e, ok := str.LastGap(); ok && e.Venue == g.Venue && e.Stream == g.Stream && e.Start.Equal(g.Start) {
				gaps[i].End = e.End
			}
		}
		if gaps[i].IsOpen() {
			open[[2]string{g.Venue, g.Stream}] = true
		}
	}
	for _, str := range s.streams {
		if g, ok := str.CurrentGap(); ok && !open[[2]string{g.Venue, g.Stream}] {
			gaps = append(gaps, store.Gap{Venue: g.Venue, Stream: g.Stream, Start: g.Start, Cause: g.Cause})
		}
	}
	return gaps
}

// State builds the box's state at now.
func (s *Service) State(now time.Time) State {
	st := State{
		Now: now, Version: buildinfo.Version(), Uptime: now.Sub(s.started),
		Decode:       s.decodeStates(),
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
	st.Sources = s.sourceStates()
	st.Health = s.http.verdict(now, st.Decode)
	byVenue := map[string]int{}
	for _, str := range s.streams {
		name := str.Spec().Venue.String()
		i, ok := byVenue[name]
		if !ok {
			i = len(st.Venues)
			byVenue[name] = i
			st.Venues = append(st.Venues, VenueState{Venue: name, LastFrame: -1, Coverage: str.Spec().Venue.CoverageAt(now)})
		}
		vs := &st.Venues[i]
		vs.Live += str.Live()
		for _, cs := range str.States() {
			st.Conns = append(st.Conns, cs)
			vs.Configured++
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
	gaps, err := s.store.Gaps(now.Add(-24 * time.Hour))
	if err != nil {
		s.log.Warn("cannot read the gap ledger for the status", "err", err)
	}
	st.Gaps = s.withCurrentGaps(gaps)
	for _, g := range st.Gaps {
		if i, ok := byVenue[g.Venue]; ok {
			st.Venues[i].Gaps24h++
		}
	}
	if off := s.stages.clockOffset(); !math.IsNaN(off) {
		st.ClockKnown, st.ClockOffset = true, off
	}
	if st.TopAssets, err = s.assets.at(now); err != nil {
		s.log.Warn("cannot read the top assets for the status", "err", err)
	}
	st.Bus = s.BusStatus(now)
	return st
}

// Status implements telegram.StatusSource: /status renders the state.
func (s *Service) Status() telegram.StatusReport {
	st := s.State(time.Now())
	r := telegram.StatusReport{Version: st.Version, Uptime: st.Uptime,
		RingDepth: st.RingDepth, RingCap: st.RingCap, RingDrops: st.RingDrops,
		DiskBytes: st.DiskBytes, DiskLimit: st.DiskLimit, Enrichment: st.Enrichment, Enrich: st.Enrich,
		Sources: sourcesStatus(st.Sources)}
	if st.Bus != nil {
		r.Bus = st.Bus
	}
	for _, v := range st.Venues {
		r.Venues = append(r.Venues, telegram.VenueStatus{Venue: v.Venue, Connections: v.Live,
			Configured: v.Configured, LastFrame: v.LastFrame, Gaps24h: v.Gaps24h, Coverage: v.Coverage})
	}
	for _, g := range st.Gaps {
		if g.IsOpen() {
			r.Blind = append(r.Blind, telegram.GapStatus{Venue: g.Venue, Stream: g.Stream, Cause: g.Cause,
				Start: g.Start, For: GapLength(g, st.Now)})
		}
	}
	for _, d := range st.Decode {
		if d.Level != HealthOK {
			r.Decode = append(r.Decode, telegram.DecodeStatus{Venue: d.Venue, Stream: d.Stream,
				Errors: d.Errors, Frames: d.Frames, Ratio: d.Ratio})
		}
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
	Health         string         `json:"health"` // HealthOK, HealthDegraded or HealthFailed
	HealthProblems []string       `json:"health_problems"`
	Venues         []VenueJSON    `json:"venues"`
	Connections    []ConnJSON     `json:"connections"`
	Decode         []DecodeJSON   `json:"decode"`
	Gaps24h        []GapJSON      `json:"gaps_24h"`
	Stages         []StageJSON    `json:"stages"`
	USDPerMinute   USDMinutesJSON `json:"usd_per_minute"`
	TopAssets      TopAssetsJSON  `json:"top_assets"`
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
	Sources        []SourceJSON   `json:"sources"`
	Bus            *BusJSON       `json:"bus,omitempty"`
}

// VenueJSON is one row of /api/status's "venues".
type VenueJSON struct {
	Venue      string   `json:"venue"`
	Live       int      `json:"live"`
	Configured int      `json:"configured"`
	State      string   `json:"state"` // "live", "degraded" (some connections down), "down"
	LastFrameS *float64 `json:"last_frame_age_s"`
	Gaps24h    int      `json:"gaps_24h"`
	// Coverage is "complete", "sampled" (the venue's figures are a lower
	// bound) or "undocumented"; CoverageNote says it in words with the
	// venue's rule.
	Coverage     string `json:"coverage"`
	CoverageNote string `json:"coverage_note"`
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

// DecodeJSON is one row of /api/status's "decode": a stream's decode
// failures over the last minute.
type DecodeJSON struct {
	Venue      string  `json:"venue"`
	Stream     string  `json:"stream"`
	ErrorRatio float64 `json:"error_ratio"`
	Errors     uint64  `json:"errors"`
	Frames     uint64  `json:"frames"`
	State      string  `json:"state"` // HealthOK, HealthDegraded or HealthFailed
}

// GapJSON is one gap as /api/status's "gaps_24h" and `liqbox gaps --json`
// write it. A gap going on has a null end, Open set, and Seconds so far.
type GapJSON struct {
	Venue   string  `json:"venue"`
	Stream  string  `json:"stream"`
	Start   string  `json:"start"`
	End     *string `json:"end"`
	Seconds float64 `json:"seconds"`
	Open    bool    `json:"open"`
	Cause   string  `json:"cause"`
}

// NewGapJSON renders g at now (RFC 3339 with nanoseconds, UTC).
func NewGapJSON(g store.Gap, now time.Time) GapJSON {
	j := GapJSON{Venue: g.Venue, Stream: g.Stream, Start: g.Start.UTC().Format(time.RFC3339Nano),
		Seconds: GapLength(g, now).Seconds(), Open: g.IsOpen(), Cause: g.Cause}
	if !g.IsOpen() {
		end := g.End.UTC().Format(time.RFC3339Nano)
		j.End = &end
	}
	return j
}

// StatusJSON renders the state at now as /api/status.
func (s *Service) StatusJSON(now time.Time) StatusJSON {
	st := s.State(now)
	out := StatusJSON{
		Version: st.Version, NowMs: now.UnixMilli(), UptimeS: st.Uptime.Seconds(),
		Healthy: st.Health.Level() != HealthFailed, Health: st.Health.Level(), HealthProblems: st.Health.Lines(),
		Venues: []VenueJSON{}, Connections: []ConnJSON{}, Decode: []DecodeJSON{}, Gaps24h: []GapJSON{},
		Stages: st.Stages, USDPerMinute: st.USDPerMinute, TopAssets: newTopAssetsJSON(st.TopAssets),
		ClockWarnS: st.ClockBound.Seconds(),
		Warnings:   []string{},
		RingDepth:  st.RingDepth, RingCapacity: st.RingCap, RingDrops: st.RingDrops,
		LastSeq:   st.LastSeq,
		DiskBytes: st.DiskBytes, DiskLimit: st.DiskLimit,
		Enrichment: st.Enrichment, Telegram: st.Telegram, Shadow: st.Shadow,
		Sources: sourcesJSON(st.Sources),
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
		v := VenueJSON{Venue: vs.Venue, Live: vs.Live, Configured: vs.Configured, Gaps24h: vs.Gaps24h, State: "live",
			Coverage: vs.Coverage.Coverage.String(), CoverageNote: vs.Coverage.Text("en")}
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
	for _, d := range st.Decode {
		out.Decode = append(out.Decode, DecodeJSON{Venue: d.Venue, Stream: d.Stream, ErrorRatio: d.Ratio,
			Errors: d.Errors, Frames: d.Frames, State: d.Level})
	}
	for _, g := range st.Gaps {
		out.Gaps24h = append(out.Gaps24h, NewGapJSON(g, now))
		if g.IsOpen() {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s %s blind since %s UTC, %s so far (%s)",
				g.Venue, g.Stream, g.Start.UTC().Format("2006-01-02 15:04:05"), GapLength(g, now).Round(time.Second), g.Cause))
		}
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
	for _, p := range st.Health.Failed {
		out.Warnings = append(out.Warnings, "unhealthy: "+p)
	}
	if st.Bus != nil {
		out.Bus = newBusJSON(st.Bus)
		out.Warnings = append(out.Warnings, st.Bus.Problems()...)
	}
	for _, p := range st.Health.Degraded {
		out.Warnings = append(out.Warnings, "degraded: "+p)
	}
	return out
}
