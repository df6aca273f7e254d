package history

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
	"github.com/liqbox/liqbox/telegram"
)

// The log tools run the cascade rules with the engine the box runs live
// (package cascade): the windows are rebuilt from the log before the
// selected time, so a cascade already going at --from is counted from its
// own start, and events then come one by one with the clock at each
// event's receive time. One mechanism for the live alerts and for the past.
// Like the live rules, they see every venue and symbol: --venue, --symbol
// and --min-usd select what a replay prints, not what the rules add up.

// CascadeRules is a repeatable --cascade flag: ASSET:USD:WINDOW[:SIDE].
type CascadeRules []cascade.Rule

// String implements flag.Value.
func (c *CascadeRules) String() string {
	var s []string
	for _, r := range *c {
		s = append(s, r.String())
	}
	return strings.Join(s, " ")
}

// Set implements flag.Value.
func (c *CascadeRules) Set(v string) error {
	r, err := cascade.ParseSpec(v)
	if err != nil {
		return err
	}
	for _, x := range *c {
		if x == r {
			return fmt.Errorf("%s given twice", v)
		}
	}
	*c = append(*c, r)
	return nil
}

// Cascades drives the engine over the log. Create with NewCascades.
type Cascades struct {
	eng    *cascade.Engine
	lastNs int64
}

// NewCascades runs rules (as one owner, 0) and hands each cascade's
// opening, changes and close to sink.
func NewCascades(rules []cascade.Rule, sink cascade.Sink) *Cascades {
	c := &Cascades{eng: cascade.New(cascade.Options{Sink: sink})}
	c.eng.SetRules(0, rules)
	return c
}

// Engine is the engine the events go through.
func (c *Cascades) Engine() *cascade.Engine { return c.eng }

// Seed reads the log's events in the longest rule's window before from,
// without reporting anything, so that the windows hold what they would
// have held live; a cascade still open at from is then reported opened,
// marked Resumed. A zero from (the log's start) needs nothing.
func (c *Cascades) Seed(st *store.Store, from time.Time) error {
	if from.IsZero() {
		return nil
	}
	w := c.eng.MaxWindow() // outside Seed, which holds the engine's lock
	_, err := c.eng.Seed(func(fn func(*event.Event) error) error {
		return st.Scan(from.Add(-w), from, fn)
	}, from.UnixNano())
	if err != nil {
		return fmt.Errorf("cannot read the log before --from for the cascade rules: %w", err)
	}
	return nil
}

// Event feeds one logged event, the clock moved to its receive time.
func (c *Cascades) Event(ev *event.Event) {
	if ev.RecvNs > c.lastNs {
		c.lastNs = ev.RecvNs
	}
	c.eng.Advance(ev.RecvNs)
	c.eng.Offer(ev)
}

// Finish moves the clock to end (the end of the selection, or the last
// event when the selection is open) and closes what is still open,
// reported closed with the state it had (open or fading).
func (c *Cascades) Finish(end time.Time) {
	t := c.lastNs
	if !end.IsZero() && end.UnixNano() > t {
		t = end.UnixNano()
	}
	c.eng.Finish(t)
}

// RunCascades runs rules over every event logged in [from, to) (zero:
// no bound) and returns the cascades, each as it closed, in the order
// they fired.
func RunCascades(st *store.Store, from, to time.Time, rules []cascade.Rule) ([]cascade.Snapshot, error) {
	rec := &collect{}
	c := NewCascades(rules, rec)
	if err := c.Seed(st, from); err != nil {
		return nil, err
	}
	err := st.Scan(from, to, func(ev *event.Event) error {
		c.Event(ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot run the cascade rules over the log: %w", err)
	}
	c.Finish(to)
	sort.SliceStable(rec.closed, func(i, j int) bool { return rec.closed[i].ID < rec.closed[j].ID })
	return rec.closed, nil
}

// collect keeps each cascade's final snapshot.
type collect struct{ closed []cascade.Snapshot }

func (c *collect) Opened(*cascade.Snapshot)   {}
func (c *collect) Updated(*cascade.Snapshot)  {}
func (c *collect) Closed(s *cascade.Snapshot) { c.closed = append(c.closed, *s) }

// WriteCascadeBacktest answers "how often would this rule have fired?":
// per rule, the cascades over the selection (when each fired, started and
// was over, its total, its peak window, its largest liquidation), and the
// largest of them.
func WriteCascadeBacktest(out io.Writer, st *store.Store, q *Query, rules []cascade.Rule) error {
	got, err := RunCascades(st, q.FromT, q.ToT, rules)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "window %s → %s, %d cascade rules (the windows read from the log before the start)\n", FmtWhen(q.FromT), FmtWhen(q.ToT), len(rules))
	for _, r := range rules {
		var mine []cascade.Snapshot
		for _, s := range got {
			if s.Rule == r {
				mine = append(mine, s)
			}
		}
		fmt.Fprintf(out, "\n%s — %s\n", r, telegram.RuleWords(r, "en"))
		if len(mine) == 0 {
			fmt.Fprintln(out, "  would not have fired")
			continue
		}
		largest := 0
		for i := range mine {
			if mine[i].Total.Cents > mine[largest].Total.Cents {
				largest = i
			}
		}
		l := &mine[largest]
		fmt.Fprintf(out, "  would have fired %d %s; the largest: %s from %s, peak %s within %s\n", len(mine), plural(len(mine), "time", "times"),
			usd(l.USD()), when(l.StartNs), usd(l.PeakUSD()), cascade.FormatWindow(r.Window))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  #\tfired (UTC)\tstarted\tover\ttotal\tpeak\tliquidations\tlargest liquidation\t\n")
		for i := range mine {
			s := &mine[i]
			over := clockOf(s.OverNs())
			switch {
			case s.State != cascade.Closed:
				over = "(still going at the end)"
			case s.BelowNs == 0:
				over = clockOf(s.EndNs)
			}
			fired := when(s.FiredNs)
			if s.Resumed {
				fired += " (already going at --from)"
			}
			top := "-"
			if s.NTop > 0 {
				ev := &s.Top[0]
				top = usd(ev.Notional) + " " + ev.Symbol.String() + " " + ev.Venue.String()
			}
			total := usd(s.USD())
			if s.LowerBound() {
				total = "≥" + total
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n", i+1, fired, clockOf(s.StartNs), over, total, usd(s.PeakUSD()), s.Total.N, top)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(out, "\n≥: a venue whose feed is sampled (at most one liquidation per symbol a second) is in the total: the real one is higher.")
	fmt.Fprintln(out, "A cascade is over when its window stays below the threshold for the quiet period (the window, at most 10 min); the rule is then armed again.")
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func when(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05") }

func clockOf(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05") }

// WriteCascade writes a cascade alert into the replay's output: in a
// table, the message a chat would have been sent (its final summary when
// it closes); in JSON lines, an object {"cascade":{…}}; CSV holds events
// only, so it writes nothing.
func (ew *Writer) WriteCascade(s *cascade.Snapshot, closed bool) error {
	switch ew.format {
	case "table":
		ew.buf = append(ew.buf[:0], '\n')
		for _, l := range strings.Split(telegram.CascadeMessage(s, closed, "en", true), "\n") {
			ew.buf = append(ew.buf, "  │ "...)
			ew.buf = append(ew.buf, l...)
			ew.buf = append(ew.buf, '\n')
		}
		ew.buf = append(ew.buf, '\n')
		_, err := ew.w.Write(ew.buf)
		return err
	case "jsonl":
		b, err := json.Marshal(map[string]any{"cascade": cascadeJSON(s, closed)})
		if err != nil {
			return err
		}
		_, err = ew.w.Write(append(b, '\n'))
		return err
	}
	return nil
}

type cascadeVenueJSON struct {
	USD          float64 `json:"usd"`
	Liquidations int32   `json:"liquidations"`
	Sampled      bool    `json:"sampled"`
}

type cascadeOut struct {
	ID           uint64                      `json:"id"`
	Rule         string                      `json:"rule"`
	State        string                      `json:"state"`
	Resumed      bool                        `json:"resumed,omitempty"`
	StartNs      int64                       `json:"start_ns"`
	FiredNs      int64                       `json:"fired_ns"`
	FiredSeq     uint64                      `json:"fired_seq"`
	LastNs       int64                       `json:"last_ns"`
	OverNs       int64                       `json:"over_ns,omitempty"`
	TotalUSD     float64                     `json:"total_usd"`
	Liquidations int32                       `json:"liquidations"`
	UnknownSize  int32                       `json:"unknown_size,omitempty"`
	WindowUSD    float64                     `json:"window_usd"`
	PeakUSD      float64                     `json:"peak_usd"`
	LowerBound   bool                        `json:"lower_bound"`
	Venues       map[string]cascadeVenueJSON `json:"venues"`
	Largest      []json.RawMessage           `json:"largest"`
}

func cascadeJSON(s *cascade.Snapshot, closed bool) cascadeOut {
	o := cascadeOut{ID: s.ID, Rule: s.Rule.String(), State: s.State.String(), Resumed: s.Resumed, StartNs: s.StartNs,
		FiredNs: s.FiredNs, FiredSeq: s.FiredSeq, LastNs: s.LastNs, TotalUSD: s.USD(), Liquidations: s.Total.N,
		UnknownSize: s.Unknown, WindowUSD: s.WindowUSD(), PeakUSD: s.PeakUSD(), LowerBound: s.LowerBound(),
		Venues: map[string]cascadeVenueJSON{}}
	if closed {
		o.State, o.OverNs = cascade.Closed.String(), s.OverNs()
	}
	for v, t := range s.Venues {
		if t.N > 0 {
			o.Venues[event.Venue(v).String()] = cascadeVenueJSON{USD: t.USD(), Liquidations: t.N, Sampled: s.Sampled(event.Venue(v))}
		}
	}
	for i := range s.Largest() {
		o.Largest = append(o.Largest, json.RawMessage(appendEventJSON(nil, &s.Top[i])))
	}
	return o
}

// CascadeWriter is the engine's Sink of a terminal replay: each cascade
// is written when it opens and when it closes, through w.
type CascadeWriter struct {
	W   *Writer
	Err error // the first write error
}

// Opened implements cascade.Sink.
func (c *CascadeWriter) Opened(s *cascade.Snapshot) { c.write(s, false) }

// Updated implements cascade.Sink: a replay shows the alert and its end.
func (c *CascadeWriter) Updated(*cascade.Snapshot) {}

// Closed implements cascade.Sink; one still going when the replay ends is
// written as it stands.
func (c *CascadeWriter) Closed(s *cascade.Snapshot) { c.write(s, s.State == cascade.Closed) }

func (c *CascadeWriter) write(s *cascade.Snapshot, closed bool) {
	if err := c.W.WriteCascade(s, closed); err != nil && c.Err == nil {
		c.Err = err
	}
}

// ReplayRules are the cascade rules a replay shows: the given ones, else
// those the chats set (each once), else the configured defaults.
func ReplayRules(given []cascade.Rule, st *store.Store, defaults []cascade.Rule) ([]cascade.Rule, error) {
	if len(given) > 0 {
		return given, nil
	}
	byChat, err := telegram.StoredCascadeRules(st)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(byChat))
	for id := range byChat {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out []cascade.Rule
	seen := map[cascade.Rule]bool{}
	for _, id := range ids {
		for _, r := range byChat[id] {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	if len(out) == 0 {
		out = defaults
	}
	return out, nil
}
