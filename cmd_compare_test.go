package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// writeLogAt writes evs (numbered in their order) to a new log at path.
func writeLogAt(t *testing.T, path string, evs []event.Event) {
	t.Helper()
	st, stop := startLogAt(t, path)
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		st.Append(&evs[i])
	}
	waitLogged(st, len(evs))
	stop()
}

// TestCompareCommandExitStatus: the candidate lacks 2 of the reference's
// 60 liquidations (3.3 %): over the default 1 % the verdict is rollback
// and the command fails with errRollback (exit 3) after printing the
// report; with --max-missing 5% it passes. Flags go before or after the
// two logs.
func TestCompareCommandExitStatus(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	writeLogAt(t, a, knownEvents())
	var cand []event.Event
	for i, ev := range knownEvents() {
		if i == 11 || i == 42 {
			continue
		}
		ev.RecvNs += int64(25 * time.Millisecond)
		cand = append(cand, ev)
	}
	writeLogAt(t, b, cand)
	period := []string{"--from", from, "--to", to}

	out, _, err := runCLI(t, append(append([]string{"compare"}, period...), a, b)...)
	if !errors.Is(err, errRollback) || !strings.Contains(err.Error(), "--max-missing") {
		t.Fatalf("err %v, want errRollback naming --max-missing", err)
	}
	for _, want := range []string{"3.33% (2 of 60, 0 during B's gaps)", "verdict: ROLLBACK", "25ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	out, _, err = runCLI(t, append([]string{"compare", a, b, "--max-missing", "5%", "--json"}, period...)...)
	if err != nil {
		t.Fatalf("with --max-missing 5%%: %v", err)
	}
	var r struct {
		Verdict string `json:"verdict"`
		Totals  struct {
			Matched int      `json:"matched"`
			LeadP50 *float64 `json:"lead_p50_s"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if r.Verdict != "promote" || r.Totals.Matched != 58 || r.Totals.LeadP50 == nil || *r.Totals.LeadP50 != 0.025 {
		t.Fatalf("json verdict %q, totals %+v", r.Verdict, r.Totals)
	}

	for _, args := range [][]string{{"compare", a}, {"compare", a, b, b}, {"compare", "--max-missing", "lots", a, b}, {"compare", "--match-size", "x", a, b}} {
		if _, _, err := runCLI(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, _, err := runCLI(t, "compare", a, filepath.Join(dir, "missing.db")); err == nil || errors.Is(err, errUsage) || errors.Is(err, errRollback) {
		t.Errorf("a log that does not exist: %v", err)
	}
}
