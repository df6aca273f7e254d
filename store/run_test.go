package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

const (
	runChildEnv  = "LIQBOX_STORE_RUN_CHILD"
	runChildIdle = "LIQBOX_STORE_RUN_CHILD_IDLE"
	childBeat    = 250 * time.Millisecond
)

// TestRunChild is the service stand-in that TestPreviousRunAcrossStops
// kills or stops. It does nothing unless started by that test. It opens
// the log, does with the gap ledger what the service does at start (each
// stream's first gap runs from the previous run's last heartbeat), and
// writes events until SIGKILL, or until SIGTERM, which stops it cleanly.
// It reports on stdout:
//
//	first            no previous run: the stream "liq" is blind since 60 s ago
//	prev NS CLEAN    the previous run's LastAlive and whether it stopped cleanly
//	live NS          both streams are live again, at NS
//	ready            the above is committed
func TestRunChild(t *testing.T) {
	path := os.Getenv(runChildEnv)
	if path == "" {
		t.Skip("run by TestPreviousRunAcrossStops")
	}
	s, err := Open(path, Options{Metrics: metrics.NewSet(), BatchDelay: 2 * time.Millisecond, Heartbeat: childBeat})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(3)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	must := func(err error) {
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
	}
	if prev, ok := s.PreviousRun(); ok {
		cause := "liqbox crashed"
		if prev.Clean {
			cause = "liqbox not running"
		}
		fmt.Printf("prev %d %t\n", prev.LastAlive.UnixNano(), prev.Clean)
		for _, st := range []string{"liq", "other"} {
			must(s.AddGap(Gap{Venue: "okx", Stream: st, Start: prev.LastAlive, Cause: cause}))
		}
		time.Sleep(30 * time.Millisecond)
		live := time.Now()
		for _, st := range []string{"liq", "other"} {
			must(s.AddGap(Gap{Venue: "okx", Stream: st, Start: prev.LastAlive, End: live, Cause: cause}))
		}
		fmt.Printf("live %d\n", live.UnixNano())
	} else {
		fmt.Println("first")
		must(s.AddGap(Gap{Venue: "okx", Stream: "liq", Start: time.Now().Add(-time.Minute), Cause: "stale"}))
	}
	idle := os.Getenv(runChildIdle) != ""
	seq := s.LastSeq()
	for i := 0; ; i++ {
		if i == 10 {
			fmt.Println("ready")
		}
		select {
		case <-ctx.Done():
			if err := <-done; err != nil {
				fmt.Println("run error:", err)
				os.Exit(3)
			}
			must(s.Close())
			os.Exit(0)
		case <-time.After(10 * time.Millisecond):
		}
		if !idle {
			seq++
			ev := mkEvent(seq, time.Now())
			s.Append(&ev)
		}
	}
}

// TestPreviousRunAcrossStops kills and stops a writer child process and
// checks what the next open learns: the previous run's last heartbeat is
// within the heartbeat period of a SIGKILL and at a clean stop, clean or
// not is told apart, the downtime becomes one gap per stream with the
// right cause, and a gap open at the crash continues into it instead of
// being counted twice. While the child runs, a read-only open sees the
// open gap and a fresh heartbeat.
func TestPreviousRunAcrossStops(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "run.db")
	type round struct {
		idle bool
		stop syscall.Signal
	}
	rounds := []round{{true, syscall.SIGKILL}, {false, syscall.SIGTERM}, {false, syscall.SIGKILL}}
	var (
		firstStart time.Time   // when "liq" went blind in round 0
		alive      []time.Time // each round's LastAlive, as the next open sees it
		live       []time.Time // each round's "live" time (from round 1)
	)
	for i, rd := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRunChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), runChildEnv+"="+path)
		if rd.idle {
			cmd.Env = append(cmd.Env, runChildIdle+"=1")
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			if f[0] == "ready" {
				break
			}
			switch f[0] {
			case "first":
				firstStart = started.Add(-time.Minute)
			case "prev":
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				if got := time.Unix(0, ns); !got.Equal(alive[i-1]) {
					t.Errorf("round %d: the child saw LastAlive %v, a reader %v", i, got, alive[i-1])
				}
			case "live":
				ns, _ := strconv.ParseInt(f[1], 10, 64)
				live = append(live, time.Unix(0, ns))
			case "PASS", "ok":
			default:
				if f[0] != "=== RUN" && !strings.HasPrefix(f[0], "===") {
					t.Fatalf("round %d: child: %s", i, sc.Text())
				}
			}
		}
		// While it runs: a reader sees a fresh heartbeat and, in round 0,
		// the open gap.
		time.Sleep(2 * childBeat)
		ro, err := Open(path, Options{ReadOnly: true, Metrics: metrics.NewSet()})
		if err != nil {
			t.Fatalf("round %d: read-only open while running: %v", i, err)
		}
		now := time.Now()
		cur, ok := ro.PreviousRun()
		gaps, _ := ro.Gaps(time.Time{})
		ro.Close()
		if !ok || !cur.Running || cur.Clean || now.Sub(cur.LastAlive) > childBeat+400*time.Millisecond {
			t.Errorf("round %d: while running, PreviousRun = %+v (%v), %v before now", i, cur, ok, now.Sub(cur.LastAlive))
		}
		if i == 0 && (len(gaps) != 1 || !gaps[0].IsOpen()) {
			t.Errorf("round 0: while running, Gaps = %+v, want the open gap", gaps)
		}

		time.Sleep(time.Duration(100+50*i) * time.Millisecond)
		sent := time.Now()
		if err := cmd.Process.Signal(rd.stop); err != nil {
			t.Fatal(err)
		}
		werr := cmd.Wait()
		dead := time.Now()
		if rd.stop == syscall.SIGTERM && werr != nil {
			t.Fatalf("round %d: clean stop: %v", i, werr)
		}

		ro, err = Open(path, Options{ReadOnly: true, Metrics: metrics.NewSet()})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", i, err)
		}
		prev, ok := ro.PreviousRun()
		ro.Close()
		switch {
		case !ok || prev.Running:
			t.Fatalf("round %d: PreviousRun = %+v, %v", i, prev, ok)
		case prev.Clean != (rd.stop == syscall.SIGTERM):
			t.Errorf("round %d: stopped by %v, Clean = %v", i, rd.stop, prev.Clean)
		case prev.LastAlive.After(dead):
			t.Errorf("round %d: LastAlive %v after the process died", i, prev.LastAlive)
		case sent.Sub(prev.LastAlive) > childBeat+400*time.Millisecond:
			t.Errorf("round %d: LastAlive %v before the %v: more than the heartbeat period %v", i, sent.Sub(prev.LastAlive), rd.stop, childBeat)
		case rd.stop == syscall.SIGTERM && prev.LastAlive.Before(sent):
			t.Errorf("round %d: the clean stop recorded LastAlive %v before it was asked to stop", i, sent.Sub(prev.LastAlive))
		}
		t.Logf("round %d (%v, idle %v): LastAlive %v before the signal", i, rd.stop, rd.idle, sent.Sub(prev.LastAlive))
		alive = append(alive, prev.LastAlive)
	}

	// One writer open settles the last crash; the ledger then holds one
	// gap per stream and downtime, the gap open at the first crash
	// continued by the downtime after it.
	s, err := Open(path, Options{Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gaps, err := s.Gaps(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Gap{
		{Venue: "okx", Stream: "liq", Start: firstStart, End: live[0], Cause: "stale, then liqbox crashed"},
		{Venue: "okx", Stream: "other", Start: alive[0], End: live[0], Cause: "liqbox crashed"},
		{Venue: "okx", Stream: "liq", Start: alive[1], End: live[1], Cause: "liqbox not running"},
		{Venue: "okx", Stream: "other", Start: alive[1], End: live[1], Cause: "liqbox not running"},
	}
	// firstStart is the parent's estimate; take the child's.
	if len(gaps) > 0 {
		if d := gaps[0].Start.Sub(firstStart); d < 0 || d > 5*time.Second {
			t.Errorf("first gap starts %v after the parent's estimate", d)
		}
		want[0].Start = gaps[0].Start
	}
	if !sameGaps(gaps, want) {
		t.Errorf("ledger after the rounds:\n%+v\nwant\n%+v", gaps, want)
	}
}
