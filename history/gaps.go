package history

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
)

// GapReport is what `liqbox gaps` shows: the ledger's gaps that ended at or
// after Since and every gap still going on (with its length so far), and,
// when no liqbox writes the log, since when the whole box has been blind.
type GapReport struct {
	Now, Since time.Time
	Gaps       []store.Gap // oldest first; End zero while a gap goes on
	// Down is the box's own downtime, going on now: no writer serves the
	// log, so every stream has been blind since the last run's last
	// heartbeat (or its clean stop). Its Venue and Stream are DownAll; its
	// cause is the one the next `liqbox run` records it with.
	Down    store.Gap
	HasDown bool
}

// DownAll is the venue and stream of the box's own downtime in a
// GapReport: every stream.
const DownAll = "*"

// LoadGaps reads the report from a log opened read-only. With a running
// writer the log is its snapshot, gaps going on included; without one the
// ledger speaks for the time liqbox ran (a gap the last run left open ends
// at its last heartbeat) and the run record for the time since.
func LoadGaps(st *store.Store, since, now time.Time) (GapReport, error) {
	gaps, err := st.Gaps(since)
	if err != nil {
		return GapReport{}, err
	}
	r := GapReport{Now: now, Since: since, Gaps: gaps}
	if prev, ok := st.PreviousRun(); ok && !prev.Running {
		cause := ingest.CauseCrashed
		if prev.Clean {
			cause = ingest.CauseNotRunning
		}
		r.Down = store.Gap{Venue: DownAll, Stream: DownAll, Start: prev.LastAlive, Cause: cause}
		r.HasDown = true
	}
	return r, nil
}

// WriteJSON writes one JSON object per gap (service.GapJSON, as
// /api/status writes them), the box's downtime last.
func (r GapReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, g := range r.all() {
		if err := enc.Encode(service.NewGapJSON(g, r.Now)); err != nil {
			return err
		}
	}
	return nil
}

func (r GapReport) all() []store.Gap {
	if !r.HasDown {
		return r.Gaps
	}
	return append(r.Gaps[:len(r.Gaps):len(r.Gaps)], r.Down)
}

// WriteTable writes the report for a terminal: a gap going on reads
// "ongoing" with its length so far.
func (r GapReport) WriteTable(w io.Writer) error {
	if len(r.Gaps) == 0 {
		if r.HasDown {
			fmt.Fprintf(w, "no gaps since %s while liqbox ran\n", r.Since.UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(w, "no gaps since %s: every stream had a live connection\n", r.Since.UTC().Format(time.RFC3339))
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "START (UTC)\tEND (UTC)\tBLIND FOR\tVENUE\tSTREAM\tCAUSE")
		var total time.Duration
		ongoing := 0
		for _, g := range r.Gaps {
			d := service.GapLength(g, r.Now)
			total += d
			end, length := g.End.UTC().Format(timeCol), d.Round(time.Millisecond).String()
			if g.IsOpen() {
				ongoing++
				end, length = "ongoing", length+" so far"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Start.UTC().Format(timeCol), end, length,
				service.TerminalText(g.Venue), service.TerminalText(g.Stream), service.TerminalText(g.Cause))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		now := ""
		if ongoing > 0 {
			now = fmt.Sprintf(" (%d ongoing)", ongoing)
		}
		fmt.Fprintf(w, "%d gaps%s, %s blind in total\n", len(r.Gaps), now, total.Round(time.Millisecond))
	}
	if r.HasDown {
		how := "it crashed; the time is its last heartbeat"
		if r.Down.Cause == ingest.CauseNotRunning {
			how = "it stopped cleanly then"
		}
		_, err := fmt.Fprintf(w, "liqbox not running since %s UTC (%s, %s): every stream is blind until it runs again, which records this as a gap (%s)\n",
			r.Down.Start.UTC().Format(timeCol), service.GapLength(r.Down, r.Now).Round(time.Second), how, r.Down.Cause)
		return err
	}
	return nil
}

const timeCol = "2006-01-02 15:04:05"
