package logthrottle_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/liqbox/liqbox/logthrottle"
)

func TestAllow(t *testing.T) {
	th := logthrottle.Throttle{Every: 10 * time.Second}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	type call struct {
		at   time.Duration
		n    int
		pass bool
	}
	for i, c := range []call{
		{0, 0, true},                 // the first line passes
		{time.Second, 0, false},      // held back
		{9 * time.Second, 0, false},  // held back
		{10 * time.Second, 2, true},  // a period later: passes, two held back
		{15 * time.Second, 0, false}, //
		{40 * time.Second, 1, true},  //
		{41 * time.Second, 0, false}, //
		{50 * time.Second, 1, true},  // the period counts from the last line let through
	} {
		n, ok := th.Allow(t0.Add(c.at))
		if n != c.n || ok != c.pass {
			t.Errorf("call %d at +%v: Allow = %d, %v; want %d, %v", i, c.at, n, ok, c.n, c.pass)
		}
	}
}

// Concurrent callers (the connections of one stream) lose no count.
func TestAllowConcurrent(t *testing.T) {
	th := logthrottle.Throttle{Every: time.Hour}
	now := time.Now()
	th.Allow(now)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				th.Allow(now)
			}
		}()
	}
	wg.Wait()
	if n, ok := th.Allow(now.Add(time.Hour)); !ok || n != 8000 {
		t.Errorf("after 8000 held back: Allow = %d, %v", n, ok)
	}
}

func ExampleThrottle() {
	th := logthrottle.Throttle{Every: 10 * time.Second}
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for s := range 25 {
		if n, ok := th.Allow(t0.Add(time.Duration(s) * time.Second)); ok {
			fmt.Printf("+%ds: cannot decode frame (suppressed %d)\n", s, n)
		}
	}
	// Output:
	// +0s: cannot decode frame (suppressed 0)
	// +10s: cannot decode frame (suppressed 9)
	// +20s: cannot decode frame (suppressed 9)
}
