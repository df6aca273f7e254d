package compare

import (
	"cmp"
	"slices"
	"time"

	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/money"
)

// Report is what `liqbox compare` prints, as a table or as JSON (the field
// names are the JSON's). Leads are A's lead over B in seconds: B's receive
// time minus A's, positive when A had the liquidation first.
type Report struct {
	A        LogSummary  `json:"a"`
	B        LogSummary  `json:"b"`
	From     time.Time   `json:"from"`
	To       time.Time   `json:"to"`
	MinUSD   float64     `json:"min_usd"`
	Rule     RuleJSON    `json:"rule"`
	Totals   Totals      `json:"totals"`
	Streams  []StreamRow `json:"streams"`
	Venues   []VenueRow  `json:"venues"`
	Chats    []ChatRow   `json:"chats"`
	LLM      LLMReport   `json:"llm"`
	Triggers []Trigger   `json:"triggers"`
	// Verdict is VerdictPromote when no trigger fired, else
	// VerdictRollback.
	Verdict string `json:"verdict"`
}

// LogSummary is one log over the period.
type LogSummary struct {
	Name   string  `json:"name"`
	Events int     `json:"events"`
	Gaps   int     `json:"gaps"`
	BlindS float64 `json:"blind_s"`
	// NotRunningSince is set when no liquidation box writes the log now:
	// since when (its last heartbeat or its clean stop).
	NotRunningSince *time.Time `json:"not_running_since,omitempty"`
}

// RuleJSON is the match rule used.
type RuleJSON struct {
	WindowS float64 `json:"window_s"`
	Size    float64 `json:"size"`
	Agree   float64 `json:"agree"`
}

// Totals are the whole period's counts and shares.
type Totals struct {
	A       int `json:"a"`
	B       int `json:"b"`
	Matched int `json:"matched"`
	// MissingInB are A's liquidations B did not log, MissingInBGap those
	// of them B was blind to (its gap ledger); ExtraInB and ExtraInBGap
	// the same the other way.
	MissingInB    int      `json:"missing_in_b"`
	MissingInBGap int      `json:"missing_in_b_during_gap"`
	ExtraInB      int      `json:"extra_in_b"`
	ExtraInBGap   int      `json:"extra_in_b_during_gap_of_a"`
	Disagree      int      `json:"disagree"`
	Side          int      `json:"disagree_side"`
	USD           int      `json:"disagree_usd"`
	Price         int      `json:"disagree_price"`
	AFirst        int      `json:"a_first"`
	BFirst        int      `json:"b_first"`
	LeadP50       *float64 `json:"lead_p50_s"`
	LeadP95       *float64 `json:"lead_p95_s"`
	LeadP99       *float64 `json:"lead_p99_s"`
	// The shares the triggers read: missing over A's, extra over B's,
	// disagreeing over matched.
	MissingRatio  float64 `json:"missing_ratio"`
	ExtraRatio    float64 `json:"extra_ratio"`
	DisagreeRatio float64 `json:"disagree_ratio"`
}

// StreamRow is one venue and stream (the relay's, or the venue's market:
// see streamOf) over the period. Matched and missing count A's events in
// the row of A's stream, extra B's in the row of B's.
type StreamRow struct {
	Venue         string `json:"venue"`
	Stream        string `json:"stream"`
	A             int    `json:"a"`
	B             int    `json:"b"`
	Matched       int    `json:"matched"`
	MissingInB    int    `json:"missing_in_b"`
	MissingInBGap int    `json:"missing_in_b_during_gap"`
	ExtraInB      int    `json:"extra_in_b"`
	ExtraInBGap   int    `json:"extra_in_b_during_gap_of_a"`
}

// VenueRow is one venue's matched pairs: who was first, by how much, and
// where the copies differ.
type VenueRow struct {
	Venue   string   `json:"venue"`
	Matched int      `json:"matched"`
	AFirst  int      `json:"a_first"`
	BFirst  int      `json:"b_first"`
	LeadP50 *float64 `json:"lead_p50_s"`
	LeadP95 *float64 `json:"lead_p95_s"`
	LeadP99 *float64 `json:"lead_p99_s"`
	Side    int      `json:"disagree_side"`
	USD     int      `json:"disagree_usd"`
	Price   int      `json:"disagree_price"`
}

// ChatRow is what one chat (by its settings in A's log, else B's) would
// have received from each log, mutes aside; the row named by Threshold
// instead of Chat is every liquidation compared (at least MinUSD).
type ChatRow struct {
	Chat      *int64  `json:"chat"`
	Threshold float64 `json:"min_usd"`
	AlertsA   int     `json:"alerts_a"`
	AlertsB   int     `json:"alerts_b"`
	// OnlyA are alerts from A whose copy B lacks or the chat's filters
	// refuse (a smaller USD, the other side); OnlyB the other way.
	OnlyA     int     `json:"only_a"`
	OnlyB     int     `json:"only_b"`
	DiffRatio float64 `json:"diff_ratio"` // (OnlyA+OnlyB) / AlertsA
}

// LLMReport is each log's analyses of the period's liquidations and its
// LLM spend, and how often the two boxes' analyses of one liquidation
// disagree in risk level.
type LLMReport struct {
	A            LLMSide `json:"a"`
	B            LLMSide `json:"b"`
	BothAnalysed int     `json:"both_analysed"`
	RiskDiffers  int     `json:"risk_differs"`
}

// LLMSide is one log's analyses and spend. Spend is counted in whole UTC
// days (the log keeps usage per day).
type LLMSide struct {
	Analyses int            `json:"analyses"`
	ByModel  int            `json:"llm"`
	ByRules  int            `json:"rules"`
	Models   map[string]int `json:"models"`
	Usage    enrich.Usage   `json:"usage"`
	Others   []ModelCost    `json:"on_other_models"`
}

// ModelCost is the same usage priced on another model.
type ModelCost struct {
	Model        string  `json:"model"`
	USD          float64 `json:"usd"`
	InputAssumed bool    `json:"input_assumed,omitempty"`
}

// Verdicts.
const (
	VerdictPromote  = "promote"
	VerdictRollback = "rollback"
)

func newReport(a, b *side, o *Options) *Report {
	r := &Report{From: o.From, To: o.To, MinUSD: o.MinUSD,
		Rule: RuleJSON{WindowS: o.Rule.Window.Seconds(), Size: o.Rule.SizeTol, Agree: o.Rule.Agree}}
	for _, x := range []struct {
		s   *side
		sum *LogSummary
	}{{a, &r.A}, {b, &r.B}} {
		x.sum.Name = x.s.name
		x.sum.BlindS = x.s.blindFor(o.From, o.To).Seconds()
		for _, g := range x.s.gaps.Gaps {
			if g.Start.Before(o.To) && (g.IsOpen() || g.End.After(o.From)) {
				x.sum.Gaps++
			}
		}
		if x.s.gaps.HasDown {
			t := x.s.gaps.Down.Start
			x.sum.NotRunningSince = &t
		}
	}

	pair, dis := match(a.evs, b.evs, o.Rule)
	rev := make([]int, len(b.evs))
	for j := range rev {
		rev[j] = -1
	}
	for i, j := range pair {
		if j >= 0 {
			rev[j] = i
		}
	}
	streams := map[[2]string]*StreamRow{}
	row := func(ev *event.Event) *StreamRow {
		k := [2]string{ev.Venue.String(), streamOf(ev)}
		if streams[k] == nil {
			streams[k] = &StreamRow{Venue: k[0], Stream: k[1]}
		}
		return streams[k]
	}
	venues := map[event.Venue]*VenueRow{}
	leads := map[event.Venue][]float64{}
	var all []float64
	t := &r.Totals
	for i := range a.evs {
		ae := &a.evs[i]
		j := pair[i]
		if !a.inPeriod[i] && (j < 0 || !b.inPeriod[j]) {
			continue
		}
		sr := row(ae)
		if a.inPeriod[i] {
			sr.A++
			t.A++
		}
		if j < 0 {
			sr.MissingInB++
			t.MissingInB++
			if b.blindAt(ae, ae.RecvNs) {
				sr.MissingInBGap++
				t.MissingInBGap++
			}
			continue
		}
		sr.Matched++
		t.Matched++
		vr := venues[ae.Venue]
		if vr == nil {
			vr = &VenueRow{Venue: ae.Venue.String()}
			venues[ae.Venue] = vr
		}
		vr.Matched++
		lead := float64(b.evs[j].RecvNs-ae.RecvNs) / 1e9
		leads[ae.Venue] = append(leads[ae.Venue], lead)
		all = append(all, lead)
		switch {
		case lead > 0:
			vr.AFirst++
			t.AFirst++
		case lead < 0:
			vr.BFirst++
			t.BFirst++
		}
		d := dis[i]
		if d != 0 {
			t.Disagree++
		}
		for _, f := range []struct {
			bit   event.Disagreement
			v, tt *int
		}{{event.DisagreeSide, &vr.Side, &t.Side}, {event.DisagreeUSD, &vr.USD, &t.USD}, {event.DisagreePrice, &vr.Price, &t.Price}} {
			if d&f.bit != 0 {
				*f.v++
				*f.tt++
			}
		}
	}
	for j := range b.evs {
		if !b.inPeriod[j] {
			continue
		}
		be := &b.evs[j]
		sr := row(be)
		sr.B++
		t.B++
		if rev[j] < 0 {
			sr.ExtraInB++
			t.ExtraInB++
			if a.blindAt(be, be.RecvNs) {
				sr.ExtraInBGap++
				t.ExtraInBGap++
			}
		}
	}
	t.LeadP50, t.LeadP95, t.LeadP99 = percentiles(all)
	t.MissingRatio, t.ExtraRatio, t.DisagreeRatio = ratio(t.MissingInB, t.A), ratio(t.ExtraInB, t.B), ratio(t.Disagree, t.Matched)
	for v, vr := range venues {
		vr.LeadP50, vr.LeadP95, vr.LeadP99 = percentiles(leads[v])
		r.Venues = append(r.Venues, *vr)
	}
	slices.SortFunc(r.Venues, func(x, y VenueRow) int { return cmp.Compare(x.Venue, y.Venue) })
	for _, sr := range streams {
		r.Streams = append(r.Streams, *sr)
	}
	slices.SortFunc(r.Streams, func(x, y StreamRow) int {
		return cmp.Or(cmp.Compare(x.Venue, y.Venue), cmp.Compare(x.Stream, y.Stream))
	})
	r.A.Events, r.B.Events = t.A, t.B
	r.Chats = chatRows(a, b, pair, rev, o.MinUSD)
	r.LLM = llmReport(a, b, pair, o)
	return r
}

// chatRows counts what each chat would have received from each log: the
// chats of A's log, then those only B's has, then every liquidation
// compared.
func chatRows(a, b *side, pair, rev []int, minUSD float64) []ChatRow {
	type filter struct {
		id     *int64
		accept func(*event.Event) bool
		min    float64
	}
	var fs []filter
	seen := map[int64]bool{}
	for _, s := range []*side{a, b} {
		for _, c := range s.chats {
			if !c.Subscribed() || seen[c.Chat] {
				continue
			}
			seen[c.Chat] = true
			id := c.Chat
			fs = append(fs, filter{id: &id, accept: c.Accepts, min: c.MinUSD()})
		}
	}
	fs = append(fs, filter{accept: func(*event.Event) bool { return true }, min: minUSD})
	var out []ChatRow
	for _, f := range fs {
		cr := ChatRow{Chat: f.id, Threshold: f.min}
		for i := range a.evs {
			if !a.inPeriod[i] || !f.accept(&a.evs[i]) {
				continue
			}
			cr.AlertsA++
			if j := pair[i]; j < 0 || !f.accept(&b.evs[j]) {
				cr.OnlyA++
			}
		}
		for j := range b.evs {
			if !b.inPeriod[j] || !f.accept(&b.evs[j]) {
				continue
			}
			cr.AlertsB++
			if i := rev[j]; i < 0 || !f.accept(&a.evs[i]) {
				cr.OnlyB++
			}
		}
		cr.DiffRatio = ratio(cr.OnlyA+cr.OnlyB, cr.AlertsA)
		if cr.AlertsA == 0 && cr.OnlyB > 0 {
			cr.DiffRatio = 1
		}
		out = append(out, cr)
	}
	return out
}

func llmReport(a, b *side, pair []int, o *Options) LLMReport {
	var r LLMReport
	for _, x := range []struct {
		s  *side
		ls *LLMSide
	}{{a, &r.A}, {b, &r.B}} {
		x.ls.Models = map[string]int{}
		for i := range x.s.evs {
			an, ok := x.s.analyses[x.s.evs[i].Seq]
			if !ok || !x.s.inPeriod[i] {
				continue
			}
			x.ls.Analyses++
			if an.Source == "llm" {
				x.ls.ByModel++
				x.ls.Models[an.Model]++
			} else {
				x.ls.ByRules++
			}
		}
		x.ls.Usage = x.s.usage
		for _, m := range enrich.OnOtherModels(x.s.usage, o.Model, o.Prices) {
			x.ls.Others = append(x.ls.Others, ModelCost(m))
		}
	}
	for i, j := range pair {
		if j < 0 || !a.inPeriod[i] {
			continue
		}
		x, okA := a.analyses[a.evs[i].Seq]
		y, okB := b.analyses[b.evs[j].Seq]
		if okA && okB {
			r.BothAnalysed++
			if x.Risk != y.Risk {
				r.RiskDiffers++
			}
		}
	}
	return r
}

// name prints a chat row's name: its id, or "all ≥ $X".
func (c ChatRow) name() string {
	if c.Chat != nil {
		return chatName(*c.Chat)
	}
	if c.Threshold <= 0 {
		return "all"
	}
	return "all ≥ " + string(money.AppendUSD(nil, c.Threshold, "?"))
}
