package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/store"
)

// TestReplayAndExportShowStoredAnalyses: the risk read stored with an
// alert comes back with it in replay (table and JSON lines) and export.
func TestReplayAndExportShowStoredAnalyses(t *testing.T) {
	path, _ := writeLog(t, false)
	st, err := store.Open(path, store.Options{Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	a := event.Analysis{Seq: 10, Risk: event.RiskHigh, Summary: "Largest ETH short liquidation this hour.",
		Recommendation: "Expect a squeeze.", Source: "llm", Model: "deepseek-v3.2", Lang: "en"}
	if err := enrich.SaveAnalysis(st, a, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	window := []string{"--db", path, "--from", "2026-11-27T12:01:00Z", "--to", "2026-11-27T12:02:00Z"}

	out, _, err := runCLI(t, append([]string{"replay"}, window...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "seq 10 HIGH (llm): Largest ETH short liquidation this hour. — Expect a squeeze.") {
		t.Errorf("table replay lacks the analysis:\n%s", out)
	}

	out, _, err = runCLI(t, append([]string{"replay", "--format", "jsonl", "--symbol", "ETHUSDT"}, window...)...)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Seq      uint64 `json:"seq"`
		Analysis struct {
			Risk, Source, Model, Summary string
		} `json:"analysis"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Seq != 10 || got.Analysis.Risk != "HIGH" || got.Analysis.Source != "llm" || got.Analysis.Model != "deepseek-v3.2" {
		t.Errorf("jsonl = %+v", got)
	}

	out, _, err = runCLI(t, append([]string{"export", "--format", "csv"}, window...)...)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]int{}
	for i, c := range rows[0] {
		h[c] = i
	}
	found := false
	for _, r := range rows[1:] {
		if r[h["seq"]] == "10" {
			found = true
			if r[h["risk"]] != "HIGH" || r[h["analysis_source"]] != "llm" || r[h["recommendation"]] != "Expect a squeeze." {
				t.Errorf("csv row = %v", r)
			}
		} else if r[h["risk"]] != "" {
			t.Errorf("seq %s has a risk it never got: %v", r[0], r)
		}
	}
	if !found {
		t.Error("seq 10 missing from the export")
	}
}
