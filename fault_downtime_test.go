package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
)

// gapLine is one line of `liqbox gaps --json`.
type gapLine struct {
	Venue, Stream, Cause string
	Start                time.Time
	End                  *time.Time
	Seconds              float64
	Open                 bool
}

// downtimeRig is `liqbox run` as a child process against a loopback
// exchange, and `liqbox gaps` run in this process on its log.
type downtimeRig struct {
	t        *testing.T
	bin, cfg string
	dir, db  string
	ex       *ingesttest.Loopback
	child    *exec.Cmd
	n        int
}

func (r *downtimeRig) start() time.Time {
	r.t.Helper()
	logf, err := os.Create(filepath.Join(r.dir, "child"+strconv.Itoa(r.n)+".log"))
	if err != nil {
		r.t.Fatal(err)
	}
	r.n++
	cmd := exec.Command(r.bin, "run", "--config", r.cfg)
	cmd.Env = append(os.Environ(), "TELEGRAM_BOT_TOKEN=", "HOLYSHEEP_API_KEY=")
	cmd.Stdout, cmd.Stderr = logf, logf
	at := time.Now()
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	logf.Close()
	r.child = cmd
	return at
}

// waitLive waits for a new connection to the exchange and a canary frame
// pushed on it, the proof that makes the child's connection live, and
// returns a moment just after it.
func (r *downtimeRig) waitLive(accepted int64) time.Time {
	r.t.Helper()
	canaries := r.ex.CanarySent()
	for deadline := time.Now().Add(10 * time.Second); r.ex.Accepted() <= accepted || r.ex.CanarySent() <= canaries || r.ex.Clients() == 0; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			r.fail("the child did not connect")
		}
	}
	return time.Now()
}

// kill ends the child with sig and returns the moments just before the
// signal and just after the exit.
func (r *downtimeRig) kill(sig syscall.Signal) (sent, exited time.Time) {
	r.t.Helper()
	sent = time.Now()
	if err := r.child.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
	err := r.child.Wait()
	exited = time.Now()
	if sig == syscall.SIGTERM && err != nil {
		r.fail("clean stop: " + err.Error())
	}
	r.child = nil
	// The exchange sees the dead socket before the next start.
	for i := 0; i < 400 && r.ex.Clients() > 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	return sent, exited
}

func (r *downtimeRig) fail(msg string) {
	r.t.Helper()
	var logs []byte
	for i := 0; i < r.n; i++ {
		b, _ := os.ReadFile(filepath.Join(r.dir, "child"+strconv.Itoa(i)+".log"))
		logs = append(logs, b...)
	}
	r.t.Fatalf("%s\nchild logs:\n%s", msg, logs)
}

// gaps runs `liqbox gaps` on the log: through the child's snapshot while
// it runs, from the file when it does not.
func (r *downtimeRig) gaps(args ...string) string {
	r.t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"gaps", "--db", r.db, "--since", "-1h"}, args...)
	if err := run(context.Background(), args, nil, &out, &errOut); err != nil {
		r.fail("liqbox " + strings.Join(args, " ") + ": " + err.Error() + "\n" + errOut.String())
	}
	return out.String()
}

func (r *downtimeRig) gapsJSON() []gapLine {
	r.t.Helper()
	var out []gapLine
	sc := bufio.NewScanner(strings.NewReader(r.gaps("--json")))
	for sc.Scan() {
		var g gapLine
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			r.t.Fatalf("gaps --json line %q: %v", sc.Text(), err)
		}
		if g.Seconds < 0 || (g.End != nil && g.End.Before(g.Start)) || g.Open != (g.End == nil) {
			r.t.Errorf("gaps --json line %q: negative, backwards or half-open", sc.Text())
		}
		out = append(out, g)
	}
	return out
}

// waitGap polls `liqbox gaps --json` until match finds a line.
func (r *downtimeRig) waitGap(what string, match func(gapLine) bool) gapLine {
	r.t.Helper()
	for deadline := time.Now().Add(8 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, g := range r.gapsJSON() {
			if match(g) {
				return g
			}
		}
		if time.Now().After(deadline) {
			r.fail(what + ": not in liqbox gaps --json:\n" + r.gaps("--json"))
		}
	}
}

func usdm(open bool, cause string) func(gapLine) bool {
	return func(g gapLine) bool { return g.Venue == "binance-usdm" && g.Open == open && g.Cause == cause }
}

// within fails unless lo ≤ at ≤ hi.
func within(t *testing.T, what string, at, lo, hi time.Time) {
	t.Helper()
	if at.Before(lo) || at.After(hi) {
		t.Errorf("%s at %s, want between %s and %s", what, at.Format("15:04:05.000"), lo.Format("15:04:05.000"), hi.Format("15:04:05.000"))
	}
}

// TestFaultsDowntimeIsAGap runs the real binary (`liqbox run` against a
// loopback exchange), kills it with SIGKILL, stops it cleanly, and restarts
// it (issue 13: "kill -9, 3–4 s down, restart: nothing in liqbox gaps";
// "an ongoing outage reads as no outage"). While it is down `liqbox gaps`
// says since when, and why; after each restart the ledger holds the
// downtime as one gap per stream of the right length (its start within
// the heartbeat period before the kill) and cause, shown while it lasts;
// an outage of the exchange while it runs is an open gap in `liqbox gaps
// --json` until the exchange is back; a gap open at a crash and the
// downtime after it are one gap; nothing is counted twice.
func TestFaultsDowntimeIsAGap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it")
	}
	const heartbeat = 2 * time.Second
	// One commit's fsync after the heartbeat's moment, on a loaded disk.
	const commitSlack = 500 * time.Millisecond
	dir := t.TempDir()
	ex, err := ingesttest.NewVenue(event.BinanceUSDM, ingesttest.LoopbackOptions{CanaryEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	r := &downtimeRig{t: t, bin: buildLiqbox(t, dir), dir: dir, ex: ex,
		cfg: filepath.Join(dir, "liqbox.conf"), db: filepath.Join(dir, "data", "liqbox.db")}
	// Binance USD-M alone, idle (no liquidations: the heartbeat alone
	// records liveness), the default heartbeat of 2 s; Telegram has no
	// token and the LLM is off.
	cfg := childConfig(filepath.Join(dir, "data"), ex.URL("/market/stream?streams=!forceOrder@arr"), "http://127.0.0.1:1")
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r.child != nil {
			r.child.Process.Kill()
			r.child.Wait()
		}
	}()

	// 1. A first run, idle, killed at a random moment of its heartbeat.
	r.start()
	r.waitLive(0)
	if out := r.gaps(); !strings.Contains(out, "every stream had a live connection") {
		t.Errorf("a fresh run, live: liqbox gaps says\n%s", out)
	}
	time.Sleep(time.Duration(500+rand.IntN(2500)) * time.Millisecond)
	killed, _ := r.kill(syscall.SIGKILL)

	// 2. Down: liqbox gaps says since when, and why.
	time.Sleep(500 * time.Millisecond)
	if out := r.gaps(); !strings.Contains(out, "liqbox not running since ") || !strings.Contains(out, "(liqbox crashed)") {
		t.Errorf("while down after a crash, liqbox gaps says\n%s", out)
	}
	lines := r.gapsJSON()
	down := lines[len(lines)-1]
	if down.Venue != "*" || down.Stream != "*" || !down.Open || down.Cause != "liqbox crashed" {
		t.Fatalf("while down, the last gaps --json line is %+v, want the box's downtime, open, liqbox crashed", down)
	}
	within(t, "the crash's last heartbeat", down.Start, killed.Add(-heartbeat-commitSlack), killed)
	t.Logf("SIGKILL: the last heartbeat was %v before the kill (heartbeat %v)", killed.Sub(down.Start).Round(time.Millisecond), heartbeat)

	// 3. Restart while the exchange is gone: the downtime gap stays open,
	// visible through the running writer's snapshot, from that heartbeat.
	ex.Refuse(true)
	restarted := r.start()
	g := r.waitGap("the downtime gap, open", usdm(true, "liqbox crashed"))
	if !g.Start.Equal(down.Start) || g.Seconds < time.Since(killed).Seconds()-1 {
		t.Errorf("open downtime gap %+v, want it from %v, %v long so far", g, down.Start, time.Since(killed))
	}
	if lines := r.gapsJSON(); lines[len(lines)-1].Venue == "*" {
		t.Errorf("liqbox runs, yet gaps --json reports the box down: %+v", lines)
	}
	acc := ex.Accepted() // a refused dial is not accepted
	ex.Refuse(false)
	back := time.Now()
	live := r.waitLive(acc)
	g = r.waitGap("the downtime gap, closed", usdm(false, "liqbox crashed"))
	within(t, "the downtime gap's end", *g.End, back, live.Add(500*time.Millisecond))
	t.Logf("SIGKILL, restarted %v later, the exchange refusing for %v more: one gap of %v, from %v before the kill to the first live connection",
		restarted.Sub(killed).Round(time.Millisecond), back.Sub(restarted).Round(time.Millisecond),
		time.Duration(g.Seconds*1e9).Round(time.Millisecond), killed.Sub(g.Start).Round(time.Millisecond))

	// 4. The exchange gone while liqbox runs: an open gap until it is back.
	ex.Refuse(true)
	gone := time.Now()
	ex.DropAll()
	g = r.waitGap("the exchange's outage, open", usdm(true, "read_error"))
	within(t, "the outage's start", g.Start, gone, gone.Add(time.Second))
	time.Sleep(300 * time.Millisecond)
	g = r.waitGap("the outage, open, longer", func(x gapLine) bool { return usdm(true, "read_error")(x) && x.Seconds >= 0.3 })
	acc = ex.Accepted()
	ex.Refuse(false)
	r.waitLive(acc)
	r.waitGap("the outage, closed", usdm(false, "read_error"))

	// 5. A clean stop: down since the stop, cause liqbox not running.
	stopped, exited := r.kill(syscall.SIGTERM)
	if out := r.gaps(); !strings.Contains(out, "liqbox not running since ") || !strings.Contains(out, "stopped cleanly") {
		t.Errorf("while down after a clean stop, liqbox gaps says\n%s", out)
	}
	lines = r.gapsJSON()
	down = lines[len(lines)-1]
	if down.Venue != "*" || !down.Open || down.Cause != "liqbox not running" {
		t.Fatalf("after a clean stop, the last gaps --json line is %+v", down)
	}
	within(t, "the clean stop", down.Start, stopped, exited)
	time.Sleep(700 * time.Millisecond)
	acc = ex.Accepted()
	restarted = r.start()
	live = r.waitLive(acc)
	g = r.waitGap("the clean stop's gap, closed", usdm(false, "liqbox not running"))
	if !g.Start.Equal(down.Start) {
		t.Errorf("clean stop's gap %+v, want it from the stop at %v", g, down.Start)
	}
	within(t, "the clean stop's gap's end", *g.End, restarted, live.Add(500*time.Millisecond))
	t.Logf("clean stop, %v down: one gap of %v (the start of liqbox to its first live connection: %v)",
		restarted.Sub(stopped).Round(time.Millisecond), time.Duration(g.Seconds*1e9).Round(time.Millisecond), g.End.Sub(restarted).Round(time.Millisecond))

	// 6. A gap open at a crash and the downtime after it are one gap.
	ex.Refuse(true)
	gone = time.Now()
	ex.DropAll()
	open := r.waitGap("an outage before the crash", usdm(true, "read_error"))
	r.kill(syscall.SIGKILL)
	time.Sleep(500 * time.Millisecond)
	acc = ex.Accepted()
	ex.Refuse(false)
	r.start()
	live = r.waitLive(acc)
	g = r.waitGap("the outage and the downtime, closed", usdm(false, "read_error, then liqbox crashed"))
	if !g.Start.Equal(open.Start) {
		t.Errorf("outage then crash %+v, want one gap from the outage's start %v", g, open.Start)
	}
	within(t, "its end", *g.End, gone, live.Add(500*time.Millisecond))
	r.kill(syscall.SIGTERM)

	// The ledger, read with liqbox stopped: each outage once, in order,
	// none overlapping, and the box down since the last stop.
	var usdmGaps []gapLine
	for _, x := range r.gapsJSON() {
		if x.Venue == "binance-usdm" {
			usdmGaps = append(usdmGaps, x)
		} else if x.Venue != "*" {
			t.Errorf("unexpected gap %+v", x)
		}
	}
	want := []string{"liqbox crashed", "read_error", "liqbox not running", "read_error, then liqbox crashed"}
	if len(usdmGaps) != len(want) {
		t.Fatalf("ledger %+v, want %d gaps: %q", usdmGaps, len(want), want)
	}
	for i, x := range usdmGaps {
		if x.Cause != want[i] || x.Open || x.Stream != "!forceOrder@arr" {
			t.Errorf("gap %d %+v, want closed, cause %q", i, x, want[i])
		}
		if i > 0 && !x.Start.After(*usdmGaps[i-1].End) {
			t.Errorf("gap %d %+v overlaps or touches the one before %+v", i, x, usdmGaps[i-1])
		}
	}
}
