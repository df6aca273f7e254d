package history

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event/eventtest"
)

// TestWritersSurviveEveryEvent writes every hostile event in every format.
// JSON lines: one valid object per event, notional_usd null exactly when
// its basis is unknown. CSV: parseable, numbers empty when unknown (never
// NaN), formulas guarded, negative numbers kept as numbers. The table, the
// JSON and the CSV: no byte a terminal acts on.
func TestWritersSurviveEveryEvent(t *testing.T) {
	evs := eventtest.Hostile()
	write := func(format string) []byte {
		var out bytes.Buffer
		w, err := NewWriter(&out, format, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range evs {
			if err := w.Write(&evs[i]); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if i := eventtest.TerminalSafe(out.Bytes()); i >= 0 {
			t.Errorf("%s: byte %#x reaches the terminal in %q", format, out.Bytes()[i], out.Bytes()[max(0, i-40):i+1])
		}
		return out.Bytes()
	}

	lines := bytes.Split(bytes.TrimSuffix(write("jsonl"), []byte("\n")), []byte("\n"))
	if len(lines) != len(evs) {
		t.Fatalf("jsonl: %d lines for %d events", len(lines), len(evs))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Errorf("jsonl %q: %v", l, err)
			continue
		}
		if (m["notional_usd"] == nil) != (m["notional_basis"] == "unknown") {
			t.Errorf("jsonl %s: notional_usd %v, basis %v", l, m["notional_usd"], m["notional_basis"])
		}
	}

	rows, err := csv.NewReader(bytes.NewReader(write("csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	if len(rows) != len(evs)+1 {
		t.Fatalf("csv: %d rows for %d events", len(rows)-1, len(evs))
	}
	for i, r := range rows[1:] {
		ev := &evs[i]
		for _, c := range r {
			if strings.Contains(c, "NaN") || strings.Contains(c, "Inf") {
				t.Errorf("csv row %d: cell %q", i+1, c)
			}
		}
		for _, c := range []string{"venue", "market", "symbol", "side", "notional_basis", "flags", "risk", "analysis_source", "summary", "recommendation"} {
			if v := r[col[c]]; v != "" && strings.ContainsAny(v[:1], "=+-@\t\r") {
				t.Errorf("csv row %d: %s cell %q would run as a formula", i+1, c, v)
			}
		}
		if (r[col["notional_usd"]] == "") != (r[col["notional_basis"]] == "unknown") {
			t.Errorf("csv row %d: notional %q, basis %q", i+1, r[col["notional_usd"]], r[col["notional_basis"]])
		}
		switch sym := ev.Symbol.String(); sym {
		case `=HYPERLINK("http://x")`, "@SUM(A1)", "+1", "-1":
			if r[col["symbol"]] != "'"+sym {
				t.Errorf("csv symbol %q written %q", sym, r[col["symbol"]])
			}
		}
		if (math.IsInf(ev.Price, 0) || math.IsNaN(ev.Price)) && r[col["price"]] != "" {
			t.Errorf("csv price %v written %q", ev.Price, r[col["price"]])
		}
		if ev.Qty == -1 && r[col["qty"]] != "-1" {
			t.Errorf("a negative quantity is a number: %q", r[col["qty"]])
		}
	}

	table := write("table")
	if n := bytes.Count(table, []byte("\n")); n != len(evs) {
		t.Errorf("table: %d lines for %d events:\n%s", n, len(evs), table)
	}
}

// TestStatsHostileSymbols: the stats tables keep one row per symbol and
// nothing a terminal acts on.
func TestStatsHostileSymbols(t *testing.T) {
	s := NewStats(50)
	evs := eventtest.Hostile()
	for i := range evs {
		s.Add(&evs[i])
	}
	var out bytes.Buffer
	from := time.Unix(0, evs[0].RecvNs-int64(time.Hour))
	if err := s.Write(&out, &Query{FromT: from, ToT: from.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if i := eventtest.TerminalSafe(out.Bytes()); i >= 0 {
		t.Errorf("stats: byte %#x reaches the terminal: %q", out.Bytes()[i], out.Bytes()[max(0, i-40):i+1])
	}
	if bytes.Contains(out.Bytes(), []byte("NaN")) || bytes.Contains(out.Bytes(), []byte("Inf")) {
		t.Errorf("stats shows a non-number:\n%s", out.Bytes())
	}
}
