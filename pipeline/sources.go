package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/latency"
	"github.com/liqbox/liqbox/metricdoc"
)

// CrossSource turns on the matching of a relay's copies of liquidations
// against the venues' own feeds (Options.Cross). A relay's copy cannot
// carry the venue's exact fields (it reports the size in USD, its time may
// be its own), so its Key differs from the direct copy's and the exact
// dedup cannot see that they are one liquidation; Rule can. The first copy
// of either source goes on to the sinks, the other is dropped as a
// duplicate, and which source was first, by how much, and in what the
// copies disagreed is counted per venue.
type CrossSource struct {
	Rule event.MatchRule
	// Venues are the venues the relay delivers; their metrics exist from
	// the start (a venue the relay delivers beyond them gets its own on
	// its first match).
	Venues []event.Venue
	// MinUSD is the relay's own threshold: a direct liquidation of a known
	// smaller size can have no relay copy, so it is not remembered.
	MinUSD float64
}

// crossWays is how many recent liquidations are remembered per venue and
// symbol: every one the relay can have a copy of that arrived within its
// lag. A cascade on one symbol brings dozens within a relay's tens of
// milliseconds (the demo at 50× brings bursts of thirty): 128 leave room.
const crossWays = 128

// crossTable remembers recent events per venue and symbol, from both
// sources, so that a copy arriving from the other source is recognised.
// A symbol's ring is allocated when the symbol is first remembered (a
// cold path: once per instrument and process); after that nothing
// allocates. An entry older than keepNs, or matched already, is free.
type crossTable struct {
	rule   event.MatchRule
	minUSD float64
	keepNs int64
	syms   map[crossKey]*crossRing
	// probe is the candidate being compared, rebuilt from an entry: the
	// rule compares events.
	probe event.Event
}

type crossKey struct {
	venue event.Venue
	sym   event.Symbol
}

// crossRing holds a symbol's latest entries in arrival order (so in
// receive order): next is where the next one goes.
type crossRing struct {
	next int
	e    [crossWays]crossEntry
}

// crossEntry is what the rule needs of a remembered event.
type crossEntry struct {
	timeMs, recvNs int64
	price, usd     float64
	side           event.Side
	conn           uint8
	known, used    bool
	matched        bool
}

func newCrossTable(c *CrossSource) *crossTable {
	keep := max(30*time.Second, 4*c.Rule.Window)
	return &crossTable{rule: c.Rule, minUSD: c.MinUSD, keepNs: int64(keep), syms: map[crossKey]*crossRing{}}
}

// match looks for the closest unmatched copy of ev from the other source;
// when there is one it is marked matched and its receive time and source
// returned with the fields the two disagree in. It walks the symbol's
// ring from the newest entry back to the first one too old to matter.
func (t *crossTable) match(ev *event.Event) (firstNs int64, first event.Source, d event.Disagreement, ok bool) {
	r := t.syms[crossKey{ev.Venue, ev.Symbol}]
	if r == nil {
		return 0, 0, 0, false
	}
	src := ev.Source()
	p := &t.probe
	p.Venue, p.Symbol = ev.Venue, ev.Symbol
	var best *crossEntry
	bestDist := 0.0
	var bestD event.Disagreement
	for k := 1; k <= crossWays; k++ {
		e := &r.e[(r.next-k+crossWays)%crossWays]
		if !e.used || ev.RecvNs-e.recvNs > t.keepNs {
			break
		}
		if e.matched || event.SourceOf(e.conn) == src {
			continue
		}
		p.Side, p.TimeMs, p.Price, p.Notional, p.Basis = e.side, e.timeMs, e.price, e.usd, event.BasisUnknown
		if e.known {
			p.Basis = event.BasisLinear
		}
		same, dis, dist := t.rule.Compare(p, ev)
		if same && (best == nil || dist < bestDist) {
			best, bestDist, bestD = e, dist, dis
		}
	}
	if best == nil {
		return 0, 0, 0, false
	}
	best.matched = true
	return best.recvNs, event.SourceOf(best.conn), bestD, true
}

// remember keeps ev for a copy from the other source to find, over the
// symbol's oldest entry.
func (t *crossTable) remember(ev *event.Event) {
	if ev.Source() == event.SourceDirect && ev.NotionalKnown() && ev.Notional < t.minUSD {
		return
	}
	k := crossKey{ev.Venue, ev.Symbol}
	r := t.syms[k]
	if r == nil {
		r = &crossRing{}
		t.syms[k] = r
	}
	r.e[r.next] = crossEntry{timeMs: ev.TimeMs, recvNs: ev.RecvNs, price: ev.Price, usd: ev.Notional, side: ev.Side,
		conn: ev.Conn, known: ev.NotionalKnown(), used: true}
	r.next = (r.next + 1) % crossWays
}

// sourceStats are one venue's counts of the race between its own feed and
// the relay. The pipeline goroutine writes them; the status reads them.
type sourceStats struct {
	first    [event.NumSources]*metrics.Counter
	lead     [event.NumSources]*latency.Histogram
	disagree [3]*metrics.Counter // side, usd, price: the bits of event.Disagreement
}

// sourceMetrics are the families of every venue's sourceStats.
type sourceMetrics struct {
	set   *metrics.Set
	lead  *latency.Vec
	venue [256]atomic.Pointer[sourceStats]
}

func newSourceMetrics(set *metrics.Set, venues []event.Venue) *sourceMetrics {
	m := &sourceMetrics{set: set,
		lead: latency.NewVec(set, `liqbox_source_lead_seconds`,
			"By how much the source that delivered a liquidation first (label first) led the other source's copy of it, per venue.")}
	metricdoc.Describe(set, `liqbox_source_first_total`, "Liquidations both the venue's own feed and the relay delivered, by the source that delivered them first.")
	metricdoc.Describe(set, `liqbox_source_disagreements_total`, "Liquidations whose relay copy disagreed with the venue's own copy, by the field (side, usd, price; see the match rule in README).")
	for _, v := range venues {
		m.stats(v)
	}
	return m
}

// stats returns venue v's counters, creating them on the venue's first
// match (a cold path: once per venue and process).
func (m *sourceMetrics) stats(v event.Venue) *sourceStats {
	if st := m.venue[v].Load(); st != nil {
		return st
	}
	st := &sourceStats{}
	vl := `venue="` + v.String() + `"`
	for s := event.Source(0); s < event.NumSources; s++ {
		st.first[s] = m.set.GetOrCreateCounter(`liqbox_source_first_total{` + vl + `,source="` + s.String() + `"}`)
		st.lead[s] = m.lead.With(vl + `,first="` + s.String() + `"`)
	}
	for i, f := range (event.DisagreeSide | event.DisagreeUSD | event.DisagreePrice).Fields() {
		st.disagree[i] = m.set.GetOrCreateCounter(`liqbox_source_disagreements_total{` + vl + `,field="` + f + `"}`)
	}
	m.venue[v].Store(st)
	return st
}

// observe counts one matched pair: first delivered it leadNs earlier.
func (m *sourceMetrics) observe(v event.Venue, first event.Source, leadNs int64, d event.Disagreement) {
	st := m.stats(v)
	st.first[first].Inc()
	st.lead[first].Update(float64(leadNs) / 1e9)
	for i := range st.disagree {
		if d&(1<<i) != 0 {
			st.disagree[i].Inc()
		}
	}
}

// SourceStats is one venue's race between its own feed and the relay
// since start: how many liquidations both delivered, which source was
// first and by how much, and how often their copies disagreed.
type SourceStats struct {
	Venue event.Venue
	// First counts the liquidations both sources delivered, by the
	// source that was first (indexed by event.Source).
	First [event.NumSources]uint64
	// Lead is by how much the first source led the other, in seconds,
	// for each first source.
	Lead [event.NumSources]latency.Counts
	// Side, USD and Price count the pairs that disagreed in that field
	// (event.MatchRule).
	Side, USD, Price uint64
}

// Sources reads every venue's race, in venue order; nil without a relay.
// Safe to call from any goroutine.
func (p *Pipeline) Sources() []SourceStats {
	if p.srcs == nil {
		return nil
	}
	var out []SourceStats
	for v := range p.srcs.venue {
		st := p.srcs.venue[v].Load()
		if st == nil {
			continue
		}
		s := SourceStats{Venue: event.Venue(v), Side: st.disagree[0].Get(), USD: st.disagree[1].Get(), Price: st.disagree[2].Get()}
		for src := range st.first {
			s.First[src] = st.first[src].Get()
			s.Lead[src] = st.lead[src].Counts()
		}
		out = append(out, s)
	}
	return out
}
