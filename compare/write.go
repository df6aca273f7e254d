package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/liqbox/liqbox/money"
)

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a terminal, the verdict last.
func (r *Report) WriteTable(w io.Writer) error {
	const ts = "2006-01-02 15:04:05"
	fmt.Fprintf(w, "A = %s, B = %s\n", r.A.Name, r.B.Name)
	min := "every liquidation"
	if r.MinUSD > 0 {
		min = "liquidations of at least " + usd(r.MinUSD)
	}
	fmt.Fprintf(w, "period %s to %s UTC (%s), %s; one liquidation: the same key, or within %s, %s in USD (disagreeing beyond %s)\n",
		r.From.UTC().Format(ts), r.To.UTC().Format(ts), r.To.Sub(r.From).Round(time.Second), min,
		time.Duration(r.Rule.WindowS*1e9), pct(r.Rule.Size), pct(r.Rule.Agree))

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	section := func(title, header string) {
		tw.Flush()
		fmt.Fprintf(w, "\n%s\n", title)
		fmt.Fprintln(tw, header)
	}
	section("LOGS", "\tEVENTS\tGAPS\tBLIND\t")
	for _, x := range []struct {
		k string
		s LogSummary
	}{{"A", r.A}, {"B", r.B}} {
		note := ""
		if x.s.NotRunningSince != nil {
			note = "not running since " + x.s.NotRunningSince.UTC().Format(ts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", x.k, group(x.s.Events), x.s.Gaps, time.Duration(x.s.BlindS*1e9).Round(time.Millisecond), note)
	}

	section("LIQUIDATIONS BY VENUE AND STREAM (missing and extra: how many while the other box was blind, in brackets)",
		"VENUE\tSTREAM\tIN A\tIN B\tMATCHED\tMISSING IN B\tEXTRA IN B")
	for _, s := range r.Streams {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s (%d)\t%s (%d)\n", s.Venue, s.Stream, group(s.A), group(s.B), group(s.Matched),
			group(s.MissingInB), s.MissingInBGap, group(s.ExtraInB), s.ExtraInBGap)
	}
	t := r.Totals
	fmt.Fprintf(tw, "all\t\t%s\t%s\t%s\t%s (%d)\t%s (%d)\n", group(t.A), group(t.B), group(t.Matched),
		group(t.MissingInB), t.MissingInBGap, group(t.ExtraInB), t.ExtraInBGap)

	section("A'S LEAD OVER B (B's receive time minus A's: positive, A had it first) AND DISAGREEMENTS",
		"VENUE\tMATCHED\tA FIRST\tB FIRST\tP50\tP95\tP99\tSIDE\tUSD\tPRICE")
	for _, v := range r.Venues {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", v.Venue, group(v.Matched), group(v.AFirst), group(v.BFirst),
			sec(v.LeadP50), sec(v.LeadP95), sec(v.LeadP99), v.Side, v.USD, v.Price)
	}
	if len(r.Venues) > 1 {
		fmt.Fprintf(tw, "all\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", group(t.Matched), group(t.AFirst), group(t.BFirst),
			sec(t.LeadP50), sec(t.LeadP95), sec(t.LeadP99), t.Side, t.USD, t.Price)
	}

	section("ALERTS EACH CHAT WOULD HAVE HAD (its filters in the logs, mutes aside)", "CHAT\tMIN USD\tFROM A\tFROM B\tONLY A\tONLY B\tDIFFERENT")
	for _, c := range r.Chats {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", c.name(), usd(c.Threshold), group(c.AlertsA), group(c.AlertsB), c.OnlyA, c.OnlyB, pct(c.DiffRatio))
	}

	section("LLM (analyses of the period's liquidations; spend on its whole UTC days)", "\tANALYSES\tLLM\tRULES\tREQUESTS\tTOKENS IN\tTOKENS OUT\tSPEND\tCHEAPEST OTHER MODEL")
	for _, x := range []struct {
		k string
		s LLMSide
	}{{"A", r.LLM.A}, {"B", r.LLM.B}} {
		other := "–"
		if len(x.s.Others) > 0 && x.s.Usage.Tokens() > 0 {
			other = x.s.Others[0].Model + " " + money.Spend(x.s.Others[0].USD)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", x.k, group(x.s.Analyses), group(x.s.ByModel), group(x.s.ByRules),
			x.s.Usage.Requests, group(int(x.s.Usage.PromptTokens)), group(int(x.s.Usage.CompletionTokens)), money.Spend(x.s.Usage.USD), other)
	}
	tw.Flush()
	if r.LLM.BothAnalysed > 0 {
		fmt.Fprintf(w, "both analysed %d of the matched liquidations; the risk level differs for %d\n", r.LLM.BothAnalysed, r.LLM.RiskDiffers)
	}

	section("ROLLBACK TRIGGERS", "TRIGGER\tLIMIT\tVALUE\t")
	for _, x := range r.Triggers {
		mark := "ok"
		if x.Fired {
			mark = "FIRED"
		}
		fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\n", x.Name, x.Limit, x.Value, mark)
	}
	tw.Flush()
	if f := r.Fired(); len(f) > 0 {
		names := make([]string, len(f))
		for i, x := range f {
			names[i] = x.Name
		}
		_, err := fmt.Fprintf(w, "\nverdict: ROLLBACK (%d of %d triggers fired: %s)\n", len(f), len(r.Triggers), strings.Join(names, ", "))
		return err
	}
	_, err := fmt.Fprintf(w, "\nverdict: PROMOTE (none of %d triggers fired)\n", len(r.Triggers))
	return err
}

// sec prints a lead in seconds as a signed duration; "–" when unknown.
func sec(p *float64) string {
	if p == nil {
		return "–"
	}
	d := time.Duration(*p * 1e9)
	switch a := max(d, -d); {
	case a < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case a < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func usd(v float64) string {
	if v <= 0 {
		return "$0"
	}
	return string(money.AppendUSD(nil, v, "?"))
}

func group(n int) string { return money.Group(int64(n)) }
