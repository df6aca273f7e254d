package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/enrich"
	"github.com/liqbox/liqbox/store"
)

func TestCostCommandReadsUsageFromTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	// 1M prompt + 1M completion tokens on deepseek-v3.2: $0.28 + $0.42.
	u, _ := json.Marshal(enrich.Usage{Requests: 10, PromptTokens: 1_000_000, CompletionTokens: 1_000_000, USD: 0.70})
	for _, k := range []string{"day/" + now.Format("2006-01-02"), "month/" + now.Format("2006-01")} {
		if err := st.Put([]byte(enrich.UsageBucket), []byte(k), u); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"cost", "--db", path}, nil, &out, &errOut); err != nil {
		t.Fatalf("cost: %v (%s)", err, errOut.String())
	}
	got := out.String()
	for _, want := range []string{"deepseek-v3.2", "0.70", "gpt-4.1"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if err := run(context.Background(), []string{"cost", "--db", path, "--lang", "xx"}, nil, &out, &errOut); err == nil {
		t.Error("--lang xx accepted")
	}
}
