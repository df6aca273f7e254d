package store

import (
	"path/filepath"
	"testing"
	"time"
)

func gapAt(stream string, start, end time.Duration, cause string) Gap {
	g := Gap{Venue: "bybit", Stream: stream, Start: t0.Add(start), Cause: cause}
	if end >= 0 {
		g.End = t0.Add(end)
	}
	return g
}

const open = -1

func TestGapMerging(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "log.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	steps := []Gap{
		gapAt("a", 0, open, "read deadline"),                // opens
		gapAt("a", 0, 10*time.Second, "read deadline"),      // closes the same gap
		gapAt("a", 30*time.Second, 40*time.Second, "stale"), // a new one
		gapAt("b", 5*time.Second, open, "dial"),             // another stream
		gapAt("b", 2*time.Second, open, "liqbox crashed"),   // continues b, earlier start
		gapAt("a", 40*time.Second, open, "reset"),           // touches a's latest: continues it
	}
	for _, g := range steps {
		if err := s.AddGap(g); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Gaps(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Gap{
		gapAt("a", 0, 10*time.Second, "read deadline"),
		gapAt("b", 2*time.Second, open, "liqbox crashed, then dial"),
		gapAt("a", 30*time.Second, open, "stale, then reset"),
	}
	if !sameGaps(got, want) {
		t.Errorf("Gaps =\n%v\nwant\n%v", got, want)
	}
	if g, _ := s.Gaps(t0.Add(time.Hour)); len(g) != 2 {
		t.Errorf("open gaps are current whatever since says: got %v", g)
	}
}

func sameGaps(a, b []Gap) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Venue != y.Venue || x.Stream != y.Stream || x.Cause != y.Cause || !x.Start.Equal(y.Start) || !x.End.Equal(y.End) {
			return false
		}
	}
	return true
}

// An open gap reaches the file with the next batch, so `liqbox gaps` in
// another process sees it while the writer runs.
func TestOpenGapVisibleToReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	r := startStore(t, path, Options{BatchDelay: time.Millisecond})
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	if err := r.AddGap(Gap{Venue: "okx", Stream: "liquidation-orders", Start: start, Cause: "exchange gone"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the open gap to be committed", func() bool {
		r.smu.Lock()
		defer r.smu.Unlock()
		return len(r.pend)+len(r.inflight) == 0
	})
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	gaps, err := ro.Gaps(time.Now())
	ro.Close()
	if err != nil || len(gaps) != 1 || !gaps[0].IsOpen() || !gaps[0].Start.Equal(start) || gaps[0].Cause != "exchange gone" {
		t.Fatalf("read-only Gaps while the writer runs = %+v, %v; want the open gap", gaps, err)
	}
}

// A gap open at a stop stays open in the file; the next writer closes it
// at the last heartbeat, and the new run's downtime gap continues it: one
// gap, not two.
func TestGapOpenAtStopContinuesAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	r := startStore(t, path, Options{})
	blind := time.Now().Add(-time.Minute)
	if err := r.AddGap(Gap{Venue: "okx", Stream: "liq", Start: blind, Cause: "stale"}); err != nil {
		t.Fatal(err)
	}
	r.stop(t)

	// While nothing runs, a reader sees the gap end at the stop.
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	prev, ok := ro.PreviousRun()
	gaps, _ := ro.Gaps(time.Time{})
	ro.Close()
	if !ok || !prev.Clean || prev.Running {
		t.Fatalf("PreviousRun after a clean stop = %+v, %v", prev, ok)
	}
	if len(gaps) != 1 || !gaps[0].End.Equal(prev.LastAlive) {
		t.Fatalf("reader with no writer: Gaps = %+v, want one ending at the stop %v", gaps, prev.LastAlive)
	}

	r = startStore(t, path, Options{})
	prev, _ = r.PreviousRun()
	// The service starts every stream's first gap at LastAlive.
	for _, st := range []string{"liq", "other"} {
		if err := r.AddGap(Gap{Venue: "okx", Stream: st, Start: prev.LastAlive, Cause: "liqbox not running"}); err != nil {
			t.Fatal(err)
		}
	}
	live := time.Now()
	for _, st := range []string{"liq", "other"} {
		if err := r.AddGap(Gap{Venue: "okx", Stream: st, Start: prev.LastAlive, End: live, Cause: "liqbox not running"}); err != nil {
			t.Fatal(err)
		}
	}
	r.stop(t)
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gaps, _ = s.Gaps(time.Time{})
	want := []Gap{
		{Venue: "okx", Stream: "liq", Start: blind, End: live, Cause: "stale, then liqbox not running"},
		{Venue: "okx", Stream: "other", Start: prev.LastAlive, End: live, Cause: "liqbox not running"},
	}
	if !sameGaps(gaps, want) {
		t.Errorf("after restart Gaps =\n%+v\nwant\n%+v", gaps, want)
	}
}

func TestGapRefusals(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "log.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, g := range map[string]Gap{
		"no venue":    {Stream: "s", Start: t0},
		"no start":    {Venue: "v", Stream: "s"},
		"end first":   {Venue: "v", Stream: "s", Start: t0, End: t0.Add(-time.Second)},
		"long stream": {Venue: "v", Stream: string(make([]byte, maxGapField+1)), Start: t0},
	} {
		if err := s.AddGap(g); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
