package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/event/eventtest"
	"github.com/liqbox/liqbox/store"
)

// hostileLog writes a log with what an older binary could have stored: a
// BitMEX quanto row (quantity and notional unknown), symbols that are
// spreadsheet formulas, and an infinite notional.
func hostileLog(t *testing.T) (path string, evs []event.Event) {
	t.Helper()
	path, st, stop := startLog(t)
	for _, ev := range eventtest.Hostile() {
		switch sym := ev.Symbol.String(); {
		case sym == "ETHUSD" && math.IsNaN(ev.Qty), sym == "ETHUSD" && math.IsInf(ev.Notional, 1),
			strings.ContainsAny(sym[:1], "=@+-"):
			ev.RecvNs = logT0.Add(time.Duration(len(evs)) * time.Second).UnixNano()
			ev.TimeMs = ev.RecvNs/1e6 - 5
			ev.Seq = uint64(len(evs) + 1)
			evs = append(evs, ev)
			st.Append(&evs[len(evs)-1])
		}
	}
	waitLogged(st, len(evs))
	stop()
	return path, evs
}

// TestExportAndReplayOfAHostileLog: every event of the log comes out, the
// quanto row with null (JSON) or empty (CSV) sizes, formulas guarded.
func TestExportAndReplayOfAHostileLog(t *testing.T) {
	path, evs := hostileLog(t)
	for _, args := range [][]string{
		{"export", "--format", "jsonl"},
		{"replay", "--format", "jsonl"},
	} {
		out, _, err := runCLI(t, append(args, "--db", path, "--from", from, "--to", to)...)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != len(evs) {
			t.Fatalf("%v: %d lines for %d events:\n%s", args, len(lines), len(evs), out)
		}
		for _, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%v: %q: %v", args, l, err)
			}
			if (m["notional_usd"] == nil) != (m["notional_basis"] == "unknown") {
				t.Errorf("%v: %s", args, l)
			}
		}
	}
	out, _, err := runCLI(t, "export", "--db", path, "--format", "csv", "--from", from, "--to", to)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(evs)+1 {
		t.Fatalf("csv: %d rows for %d events:\n%s", len(rows)-1, len(evs), out)
	}
	for _, r := range rows[1:] {
		if sym := r[5]; strings.ContainsAny(sym[:1], "=@+-") {
			t.Errorf("symbol cell %q runs as a formula", sym)
		}
		if strings.Contains(strings.Join(r, ","), "NaN") {
			t.Errorf("row %v writes NaN", r)
		}
	}
	if rows[1][5] != "ETHUSD" || rows[1][8] != "" || rows[1][9] != "" || rows[1][10] != "unknown" {
		t.Errorf("quanto row = %v", rows[1])
	}
}

// TestLogToolsKeepControlBytesFromTheTerminal: what an old log holds in a
// symbol or a gap's cause reaches replay, stats and gaps as visible
// escapes, never as bytes the terminal acts on.
func TestLogToolsKeepControlBytesFromTheTerminal(t *testing.T) {
	path, st, stop := startLog(t)
	// The store refuses C0 controls in a symbol on read; C1 controls,
	// bidi overrides and invalid UTF-8 it keeps.
	syms := []string{"\xc2\x9b2J\xc2\x9bH", "\xe2\x80\xaeTDSUCTB", "BTC\xff\xfe", `\x1b`}
	for i, sym := range syms {
		at := logT0.Add(time.Duration(i) * time.Second)
		ev := event.Event{Seq: uint64(i + 1), RecvNs: at.UnixNano(), TimeMs: at.UnixMilli(), Price: 1, Qty: 1e6,
			Notional: 1e6, Venue: event.Bybit, Market: event.Linear, Side: event.Short, Basis: event.BasisLinear,
			Symbol: event.MakeSymbol(sym)}
		st.Append(&ev)
	}
	if err := st.AddGap(store.Gap{Venue: "bybit", Stream: "s\x1b]0;owned\x07", Start: time.Now().Add(-time.Hour),
		End: time.Now().Add(-time.Hour + time.Minute), Cause: "stale\r\n12:00 fake line\x1b[2J"}); err != nil {
		t.Fatal(err)
	}
	waitLogged(st, len(syms))
	stop()
	for _, args := range [][]string{
		{"replay", "--db", path, "--from", from, "--to", to},
		{"stats", "--db", path, "--from", from, "--to", to},
		{"export", "--db", path, "--from", from, "--to", to, "--format", "csv"},
		{"export", "--db", path, "--from", from, "--to", to, "--format", "jsonl"},
		{"backtest", "--db", path, "--from", from, "--to", to},
		{"gaps", "--db", path, "--since", "-2h"},
	} {
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if i := eventtest.TerminalSafe([]byte(out)); i >= 0 {
			t.Errorf("%v: byte %#x at %d reaches the terminal: %q", args, out[i], i, out[max(0, i-30):i+1])
		}
		if args[0] == "replay" && strings.Count(out, "\n") != len(syms) {
			t.Errorf("replay: %d lines for %d events:\n%s", strings.Count(out, "\n"), len(syms), out)
		}
		if args[0] == "gaps" && !strings.Contains(out, `stale\r\n12:00 fake line\x1b[2J`) {
			t.Errorf("gaps does not show the escaped cause:\n%s", out)
		}
	}
}

// TestBadBotTokenStopsTheCheck: a token run would die on fails config
// check, named by where it came from and the form expected, without the
// token; so does a token file others can read. run says the same instead
// of telego's "invalid token format".
func TestBadBotTokenStopsTheCheck(t *testing.T) {
	good := "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
	conf := confFile(t, "[alerts]\nmin_usd = 50k\n")
	for _, tc := range []struct{ token, want string }{
		{"123456789:short", "the part after the colon has 5 characters"},
		{"AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", "it has no colon"},
		{"12x:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", "the part before the colon is not a number"},
		{`"` + good + `"`, "it contains quotes"},
		{"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw!", "a character outside them"},
	} {
		t.Setenv("TELEGRAM_BOT_TOKEN", tc.token)
		for _, cmd := range [][]string{{"config", "check", conf}, {"run", "--config", conf}} {
			_, _, err := runCLI(t, cmd...)
			if err == nil {
				t.Fatalf("%v accepted the token %q", cmd, tc.token)
			}
			msg := err.Error()
			if !strings.Contains(msg, "TELEGRAM_BOT_TOKEN does not hold a Telegram bot token") || !strings.Contains(msg, tc.want) ||
				!strings.Contains(msg, "a colon and 35 letters, digits, _ or -") || strings.Contains(msg, "telego") {
				t.Errorf("%v with %q: %v", cmd, tc.token, err)
			}
			if strings.Contains(msg, "AAHdq") || strings.Contains(msg, "short") {
				t.Errorf("%v: the token is in the error: %v", cmd, err)
			}
		}
	}
	t.Setenv("TELEGRAM_BOT_TOKEN", good)
	out, _, err := runCLI(t, "config", "check", conf)
	if err != nil || !strings.Contains(out, "telegram: on, token read") || strings.Contains(out, "AAHdq") {
		t.Errorf("good token: %v\n%s", err, out)
	}

	// From the token file: named by its path, and refused when others can
	// read it, as run refuses it.
	t.Setenv("TELEGRAM_BOT_TOKEN", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("123456789:AAHdq\n"), 0o600)
	conf = confFile(t, "[telegram]\ntoken_file = "+file+"\n")
	_, _, err = runCLI(t, "config", "check", conf)
	if err == nil || !strings.Contains(err.Error(), "the file "+file) || strings.Contains(err.Error(), "AAHdq") {
		t.Errorf("bad token in a file: %v", err)
	}
	os.WriteFile(file, []byte(good+"\n"), 0o644)
	os.Chmod(file, 0o644)
	for _, cmd := range [][]string{{"config", "check", conf}, {"run", "--config", conf}} {
		_, _, err = runCLI(t, cmd...)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("%v with a 0644 token file: %v", cmd, err)
		}
	}
	os.Chmod(file, 0o600)
	if out, _, err := runCLI(t, "config", "check", conf); err != nil || !strings.Contains(out, "telegram: on, token read") {
		t.Errorf("0600 token file: %v\n%s", err, out)
	}
	// No token at all is allowed (alerts go to the terminal), and said.
	out, _, err = runCLI(t, "config", "check", confFile(t, "[alerts]\nmin_usd = 50k\n"))
	if err != nil || !strings.Contains(out, "telegram: on, but no TELEGRAM_BOT_TOKEN nor telegram.token_file") {
		t.Errorf("no token: %v\n%s", err, out)
	}
}

// TestRunListenFlagIsChecked: --listen goes through the file's rules,
// loopback included, and the error names the flag.
func TestRunListenFlagIsChecked(t *testing.T) {
	t.Setenv("TELEGRAM_BOT_TOKEN", "")
	_, _, err := runCLI(t, "run", "--data-dir", t.TempDir(), "--listen", "0.0.0.0:9464")
	if err == nil || !strings.Contains(err.Error(), `--listen: http.listen: "0.0.0.0:9464" is not a loopback address`) {
		t.Errorf("run --listen 0.0.0.0:9464: %v", err)
	}
}

// TestVersionOfAPlainBuild: `go build` in a checkout, without the release
// script's stamps, still says which commit it is, when that was, and
// whether the tree had uncommitted changes, from what Go records. The
// source is copied into a fresh repository: Go does not find the
// repository of a linked git worktree (golang/go#58218).
func TestVersionOfAPlainBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	files, err := exec.Command("git", "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	repo := t.TempDir()
	for _, f := range strings.Fields(string(files)) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // listed but deleted in the tree
		}
		os.MkdirAll(filepath.Join(repo, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(repo, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-qm", "snapshot")
	head, when := git("rev-parse", "HEAD"), git("show", "-s", "--format=%cI")
	version := func() []string {
		t.Helper()
		bin := filepath.Join(repo, "liqbox")
		// -buildvcs=true over a GOFLAGS=-buildvcs=false of the machine:
		// what a plain go build does by default.
		cmd := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(bin)
		return strings.Split(string(out), "\n")
	}
	v := version()
	if v[1] != "commit "+head {
		t.Errorf("version says %q, want commit %s", v[1], head)
	}
	built, err := time.Parse(time.RFC3339, strings.TrimPrefix(v[2], "built "))
	want, _ := time.Parse(time.RFC3339, when)
	if err != nil || !built.Equal(want) {
		t.Errorf("version says %q, want the commit's time %s (%v)", v[2], when, err)
	}
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("changed"), 0o644)
	if v := version(); v[1] != "commit "+head+" (with uncommitted changes)" {
		t.Errorf("a modified tree: version says %q", v[1])
	}
}

// TestHelpIsOnStdout: `liqbox CMD -h` and `--help` print the command's
// flags on stdout and succeed (exit 0); every flag that takes a value
// names it (-config FILE, not -config string); a "flags:" section and
// "[flags]" only where there are flags (version has none).
func TestHelpIsOnStdout(t *testing.T) {
	flagLine := regexp.MustCompile(`^  -[a-z0-9-]+( [A-Z][A-Z0-9_]*)?$`)
	for name := range commands {
		for _, h := range []string{"-h", "--help"} {
			out, errOut, err := runCLI(t, name, h)
			if err != nil || errOut != "" {
				t.Errorf("%s %s: %v, stderr %q", name, h, err, errOut)
			}
			if !strings.HasPrefix(out, "usage: liqbox "+name) {
				t.Errorf("%s %s: stdout %q", name, h, out)
			}
			flags := 0
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "  -") {
					flags++
					if !flagLine.MatchString(l) {
						t.Errorf("%s: flag line %q does not name its value", name, l)
					}
				}
			}
			if section := strings.Contains(out, "\nflags:\n"); section != (flags > 0) || strings.Contains(out, "[flags]") != (flags > 0) {
				t.Errorf("%s %s: %d flags, with a flags: section %v:\n%s", name, h, flags, section, out)
			}
		}
	}
	if out, _, _ := runCLI(t, "version", "-h"); out != "usage: liqbox version\n  "+commands["version"].summary+"\n" {
		t.Errorf("version -h = %q", out)
	}
	out, _, _ := runCLI(t, "run", "-h")
	for _, want := range []string{"  -config FILE\n", "  -listen ADDR\n", "  -data-dir DIR\n", "  -shadow\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("run -h lacks %q:\n%s", want, out)
		}
	}
	if o, _, err := runCLI(t, "help", "replay"); err != nil || !strings.Contains(o, "  -from TIME\n") {
		t.Errorf("help replay: %v\n%s", err, o)
	}
	if o, _, err := runCLI(t, "config", "check", "-h"); err != nil || !strings.Contains(o, "liqbox config check FILE") {
		t.Errorf("config check -h: %v\n%s", err, o)
	}
	// A bad flag is a usage error on stderr, with the flags.
	_, errOut, err := runCLI(t, "stats", "--bogus")
	if !errors.Is(err, errBadFlag) || !strings.Contains(errOut, "flag provided but not defined: -bogus") || !strings.Contains(errOut, "  -from TIME") {
		t.Errorf("stats --bogus: %v\n%s", err, errOut)
	}
}

// TestDemoListenIsUsedOrFails: an address given to demo --listen is the
// one it serves on; when it is taken the demo fails and says so instead
// of serving somewhere else, and it goes through the config's rules.
func TestDemoListenIsUsedOrFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, errOut, err := runCLI(t, "demo", "--listen", busy.Addr().String(), "--duration", "5s")
	if err == nil || !strings.Contains(err.Error(), "cannot listen on "+busy.Addr().String()) ||
		!strings.Contains(err.Error(), "address already in use") {
		t.Errorf("demo on a busy port: %v\n%s", err, errOut)
	}
	if strings.Contains(errOut, "status page at") {
		t.Errorf("the demo started elsewhere:\n%s", errOut)
	}
	_, _, err = runCLI(t, "demo", "--listen", "0.0.0.0:0", "--duration", "5s")
	if err == nil || !strings.Contains(err.Error(), "is not a loopback address") {
		t.Errorf("demo --listen 0.0.0.0:0: %v", err)
	}
}
