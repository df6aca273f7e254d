package history

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/service"
)

// Writer writes events as a table (the live terminal alert line),
// JSON lines or CSV.
type Writer struct {
	format string
	w      *bufio.Writer
	csv    *csv.Writer
	buf    []byte
	row    []string
	color  bool
	// KV, when set, is the log the events come from: each event's stored
	// risk analysis (enrichment result) is written with it.
	KV enrich.KV
}

// NewWriter writes events to w in format: table, jsonl or csv.
func NewWriter(w io.Writer, format string, color bool) (*Writer, error) {
	ew := &Writer{format: format, w: bufio.NewWriter(w), color: color}
	switch format {
	case "table", "jsonl":
	case "csv":
		ew.csv = csv.NewWriter(ew.w)
		if err := ew.csv.Write(csvHeader); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("--format %q: want table, jsonl or csv", format)
	}
	return ew, nil
}

var csvHeader = []string{"seq", "recv_time", "time", "venue", "market", "symbol", "side",
	"price", "qty", "notional_usd", "notional_basis", "conn", "flags",
	"risk", "analysis_source", "summary", "recommendation"}

// analysis returns the stored analysis of ev, if the writer reads a log and
// the log has one.
func (ew *Writer) analysis(ev *event.Event) (event.Analysis, bool) {
	if ew.KV == nil || ev.Seq == 0 {
		return event.Analysis{}, false
	}
	a, ok, err := enrich.LoadAnalysis(ew.KV, ev.Seq)
	return a, ok && err == nil
}

// Write writes one event.
func (ew *Writer) Write(ev *event.Event) error {
	switch ew.format {
	case "table":
		// The live alert line without its on-box figure: the log does not
		// know when the line was written live, and the time since is not
		// the box's.
		ew.buf = service.AppendTerminalLine(ew.buf[:0], ev, time.Time{}, ew.color)
		if a, ok := ew.analysis(ev); ok {
			ew.buf = service.AppendTerminalNote(ew.buf, &a, ew.color)
		}
		_, err := ew.w.Write(ew.buf)
		return err
	case "jsonl":
		ew.buf = appendEventJSON(ew.buf[:0], ev)
		if a, ok := ew.analysis(ev); ok {
			ew.buf = appendAnalysisJSON(ew.buf[:len(ew.buf)-1], &a)
			ew.buf = append(ew.buf, '}')
		}
		ew.buf = append(ew.buf, '\n')
		_, err := ew.w.Write(ew.buf)
		return err
	}
	ew.row = append(ew.row[:0],
		strconv.FormatUint(ev.Seq, 10),
		time.Unix(0, ev.RecvNs).UTC().Format(time.RFC3339Nano),
		time.UnixMilli(ev.TimeMs).UTC().Format(time.RFC3339Nano),
		csvText(ev.Venue.String()), csvText(ev.Market.String()), csvText(ev.Symbol.String()), csvText(ev.Side.String()),
		csvNumber(ev.Price), csvNumber(ev.Qty), csvNotional(ev), csvText(ev.NotionalBasis().String()),
		strconv.Itoa(int(ev.Conn)), csvText(flagNames(ev.Flags)))
	if a, ok := ew.analysis(ev); ok {
		ew.row = append(ew.row, csvText(a.Risk.String()), csvText(a.Source), csvText(a.Summary), csvText(a.Recommendation))
	} else {
		ew.row = append(ew.row, "", "", "", "")
	}
	return ew.csv.Write(ew.row)
}

// csvText guards a text cell for spreadsheets and terminals: control and
// format characters are escaped as on the terminal (service.TerminalText),
// and a cell a spreadsheet would run as a formula (starting with =, +, -,
// @, a tab or a carriage return, as =HYPERLINK(…) or @SUM(…)) gets a
// leading ' so that it is shown as text (the usual rule, OWASP's "CSV
// injection").
func csvText(s string) string {
	s = service.TerminalText(s)
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// csvNumber is a numeric cell: the number as it is (a negative one stays a
// number), empty when it is unknown or not finite.
func csvNumber(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// csvNotional is the notional_usd cell: empty exactly when the basis cell
// says unknown.
func csvNotional(ev *event.Event) string {
	if !ev.NotionalKnown() {
		return ""
	}
	return csvNumber(ev.Notional)
}

// appendAnalysisJSON appends `,"analysis":{…}` to an open JSON object,
// its text escaped as the event's (valid UTF-8, no control or format
// character reaches a terminal).
func appendAnalysisJSON(dst []byte, a *event.Analysis) []byte {
	dst = append(dst, `,"analysis":{"risk":`...)
	dst = event.AppendJSONString(dst, a.Risk.String())
	dst = append(dst, `,"source":`...)
	dst = event.AppendJSONString(dst, a.Source)
	if a.Model != "" {
		dst = append(dst, `,"model":`...)
		dst = event.AppendJSONString(dst, a.Model)
	}
	if a.Lang != "" {
		dst = append(dst, `,"lang":`...)
		dst = event.AppendJSONString(dst, a.Lang)
	}
	dst = append(dst, `,"summary":`...)
	dst = event.AppendJSONString(dst, a.Summary)
	dst = append(dst, `,"recommendation":`...)
	dst = event.AppendJSONString(dst, a.Recommendation)
	return append(dst, '}')
}

// Flush writes what is buffered.
func (ew *Writer) Flush() error {
	if ew.csv != nil {
		ew.csv.Flush()
		if err := ew.csv.Error(); err != nil {
			return err
		}
	}
	return ew.w.Flush()
}

// appendEventJSON is `liqbox decode`'s JSON object plus what the log adds:
// seq, recv_ns, market, conn and flags.
func appendEventJSON(dst []byte, ev *event.Event) []byte {
	dst = ev.AppendJSON(dst)
	dst = dst[:len(dst)-1] // reopen the object
	dst = append(dst, `,"market":"`...)
	dst = append(dst, ev.Market.String()...)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, ev.Seq, 10)
	dst = append(dst, `,"recv_ns":`...)
	dst = strconv.AppendInt(dst, ev.RecvNs, 10)
	dst = append(dst, `,"conn":`...)
	dst = strconv.AppendUint(dst, uint64(ev.Conn), 10)
	dst = append(dst, `,"flags":"`...)
	dst = append(dst, flagNames(ev.Flags)...)
	return append(dst, `"}`...)
}

func flagNames(f event.Flags) string {
	var names []string
	if f&event.FlagBacklog != 0 {
		names = append(names, "backlog")
	}
	if f&event.FlagReplay != 0 {
		names = append(names, "replay")
	}
	if f&event.FlagRemote != 0 {
		names = append(names, "remote")
	}
	return strings.Join(names, "|")
}
