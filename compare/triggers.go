package compare

import (
	"fmt"
	"strconv"
	"time"
)

// Triggers are the playbook's rollback triggers, each a limit on what B
// (the candidate) did against A (the reference) over the period. A share
// below zero, or a duration of zero, turns its trigger off.
type Triggers struct {
	// MaxMissing: A's liquidations B did not log, over A's ("error rate
	// above 1 %"). Those B was blind to count too: the box knew it, the
	// chats still missed them.
	MaxMissing float64
	// MaxExtra: B's liquidations A did not log, over B's (phantoms, or a
	// relay whose copies the rule cannot match).
	MaxExtra float64
	// MaxDisagree: matched pairs whose side, USD or price differ, over the
	// matched ("alert accuracy drop above 5 %").
	MaxDisagree float64
	// MaxAlertDiff: the worst chat's alerts that one log would have sent
	// and the other not (or not alike), over the alerts A would have sent.
	MaxAlertDiff float64
	// MaxLeadP99: A's lead over B at p99: how much later B delivers in the
	// worst percent.
	MaxLeadP99 time.Duration
	// MaxBlind: B's time blind (its gaps and downtime) within the period.
	MaxBlind time.Duration
	// MinEvents: fewer liquidations than this in A's log over the period
	// is no evidence: the trigger fires rather than promote on nothing.
	MinEvents int
}

// DefaultTriggers are the playbook's: 1 % missing, 1 % extra, 5 %
// disagreeing, 5 % of a chat's alerts different, at least one liquidation;
// the lead and blind-time limits are off until set.
func DefaultTriggers() Triggers {
	return Triggers{MaxMissing: 0.01, MaxExtra: 0.01, MaxDisagree: 0.05, MaxAlertDiff: 0.05, MinEvents: 1}
}

// Trigger is one trigger's evaluation.
type Trigger struct {
	Name  string `json:"name"` // the flag that sets it, without dashes
	Limit string `json:"limit"`
	Value string `json:"value"`
	Fired bool   `json:"fired"`
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) + "%" }

// evaluate fills the triggers and the verdict.
func (r *Report) evaluate(tr Triggers) {
	t := &r.Totals
	share := func(name string, limit, v float64, detail string) {
		if limit < 0 {
			return
		}
		r.Triggers = append(r.Triggers, Trigger{Name: name, Limit: pct(limit), Value: pct(v) + " (" + detail + ")", Fired: v > limit})
	}
	share("max-missing", tr.MaxMissing, t.MissingRatio, fmt.Sprintf("%d of %d, %d during B's gaps", t.MissingInB, t.A, t.MissingInBGap))
	share("max-extra", tr.MaxExtra, t.ExtraRatio, fmt.Sprintf("%d of %d", t.ExtraInB, t.B))
	share("max-disagree", tr.MaxDisagree, t.DisagreeRatio, fmt.Sprintf("%d of %d: side %d, usd %d, price %d", t.Disagree, t.Matched, t.Side, t.USD, t.Price))
	worst, name := 0.0, "no alerts"
	for _, c := range r.Chats {
		if c.DiffRatio >= worst && (c.AlertsA > 0 || c.AlertsB > 0) {
			worst, name = c.DiffRatio, "chat "+c.name()+fmt.Sprintf(": %d only in A, %d only in B of %d", c.OnlyA, c.OnlyB, c.AlertsA)
		}
	}
	share("max-alert-diff", tr.MaxAlertDiff, worst, name)
	if tr.MaxLeadP99 > 0 {
		v, fired := "no pair", false
		if t.LeadP99 != nil {
			d := time.Duration(*t.LeadP99 * 1e9)
			v, fired = d.Round(time.Microsecond).String(), d > tr.MaxLeadP99
		}
		r.Triggers = append(r.Triggers, Trigger{Name: "max-lead-p99", Limit: tr.MaxLeadP99.String(), Value: v, Fired: fired})
	}
	if tr.MaxBlind > 0 {
		d := time.Duration(r.B.BlindS * 1e9)
		r.Triggers = append(r.Triggers, Trigger{Name: "max-blind", Limit: tr.MaxBlind.String(),
			Value: d.Round(time.Millisecond).String() + fmt.Sprintf(" (%d gaps)", r.B.Gaps), Fired: d > tr.MaxBlind})
	}
	if tr.MinEvents > 0 {
		r.Triggers = append(r.Triggers, Trigger{Name: "min-events", Limit: strconv.Itoa(tr.MinEvents),
			Value: strconv.Itoa(t.A), Fired: t.A < tr.MinEvents})
	}
	r.Verdict = VerdictPromote
	for _, x := range r.Triggers {
		if x.Fired {
			r.Verdict = VerdictRollback
		}
	}
}

// Fired lists the triggers that fired.
func (r *Report) Fired() []Trigger {
	var out []Trigger
	for _, x := range r.Triggers {
		if x.Fired {
			out = append(out, x)
		}
	}
	return out
}
