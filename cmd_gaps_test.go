package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/store"
)

func TestGapsCommandListsTheLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := st.AddGap(store.Gap{Venue: "bybit", Stream: "allLiquidation/linear", Start: start, End: start.Add(90 * time.Second), Cause: "stale"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"gaps", "--db", path, "--since", "-2h"}, nil, &out, &errOut); err != nil {
		t.Fatalf("gaps: %v (%s)", err, errOut.String())
	}
	for _, want := range []string{"bybit", "allLiquidation/linear", "1m30s", "stale", "1 gaps, 1m30s blind in total"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"gaps", "--db", path, "--since", "-10m"}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "no gaps since") {
		t.Errorf("old gap listed with --since -10m:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"gaps", "--db", path, "--since", "-2h", "--json"}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"seconds":90`) {
		t.Errorf("json lacks seconds: %s", out.String())
	}
}

// TestGapsCommandShowsOngoingGaps: while the writer runs (the command
// reads its snapshot), an ongoing gap has its start, its length so far and
// its cause, a null end in JSON, never a year-1 end or negative seconds;
// once no liqbox runs, the command says since when, with the cause the
// next run records. What the ledger read from the file reaches the
// terminal without control bytes.
func TestGapsCommandShowsOngoingGaps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	st, err := store.Open(path, store.Options{BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	start := time.Now().Add(-time.Minute)
	if err := st.AddGap(store.Gap{Venue: "okx", Stream: "liquidation-orders", Start: start, Cause: "read_error\x1b[2J"}); err != nil {
		t.Fatal(err)
	}
	gaps := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"gaps", "--db", path}, args...), nil, &out, &errOut); err != nil {
			t.Fatalf("gaps: %v (%s)", err, errOut.String())
		}
		return out.String()
	}
	var line map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if out := gaps("--json"); out != "" {
			if err := json.Unmarshal([]byte(out), &line); err != nil {
				t.Fatalf("%q: %v", out, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the open gap never reached the snapshot")
		}
	}
	end, hasEnd := line["end"]
	if s, _ := line["seconds"].(float64); !hasEnd || end != nil || line["open"] != true || s < 60 || s > time.Since(start).Seconds() {
		t.Errorf("ongoing gap %v: want end null, open true, a minute so far", line)
	}
	table := gaps()
	for _, want := range []string{"ongoing", "1m0", "s so far", "okx", "read_error\\x1b[2J", "1 gaps (1 ongoing)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "\x1b") || strings.Contains(table, "not running") || strings.Contains(table, "0001-01-01") {
		t.Errorf("table while the writer runs:\n%q", table)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	table = gaps()
	if !strings.Contains(table, "liqbox not running since ") || !strings.Contains(table, "stopped cleanly") || !strings.Contains(table, "(liqbox not running)") {
		t.Errorf("table with no writer:\n%s", table)
	}
	lines := strings.Split(strings.TrimSpace(gaps("--json")), "\n")
	var down map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &down); err != nil || len(lines) != 2 {
		t.Fatalf("json with no writer: %q", lines)
	}
	if down["venue"] != "*" || down["stream"] != "*" || down["open"] != true || down["end"] != nil || down["cause"] != "liqbox not running" {
		t.Errorf("the box's downtime %v", down)
	}
	if at, err := time.Parse(time.RFC3339Nano, down["start"].(string)); err != nil || at.After(stopped) || at.Before(stopped.Add(-time.Second)) {
		t.Errorf("down since %v, want the stop at %v", down["start"], stopped)
	}
}
