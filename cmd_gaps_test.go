package main

import (
	"bytes"
	"context"
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
