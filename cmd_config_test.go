package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// confFile writes body to a config file in a fresh directory.
func confFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "liqbox.conf")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheckCommand(t *testing.T) {
	var out, errOut strings.Builder
	good := confFile(t, "[alerts]\nmin_usd = 50k\n")
	if err := run(t.Context(), []string{"config", "check", good}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ": ok") {
		t.Errorf("output: %s", out.String())
	}
	bad := confFile(t, "[alerts]\nmin_usd = fifty\n")
	err := run(t.Context(), []string{"config", "check", bad}, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "alerts.min_usd") {
		t.Fatalf("bad file: %v", err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"config", "init"}, nil, &out, &errOut); err != nil || !strings.Contains(out.String(), "[telegram]") {
		t.Fatalf("init: %v", err)
	}
}
