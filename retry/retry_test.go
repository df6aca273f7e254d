package retry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/liqbox/liqbox/retry"
)

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t0 := time.Now()
	if !retry.Sleep(ctx, 20*time.Millisecond) {
		t.Error("Sleep reported a cancel that did not happen")
	}
	if d := time.Since(t0); d < 20*time.Millisecond {
		t.Errorf("Sleep(20ms) returned after %v", d)
	}
	if !retry.Sleep(ctx, 0) || !retry.Sleep(ctx, -time.Second) {
		t.Error("a zero or negative sleep with a live context must report true")
	}

	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	t0 = time.Now()
	if retry.Sleep(ctx, time.Hour) {
		t.Error("Sleep reported d passed although ctx ended")
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("a cancelled Sleep took %v", d)
	}
	if retry.Sleep(ctx, 0) {
		t.Error("a zero sleep with an ended context must report false")
	}
}

func TestBackoff(t *testing.T) {
	var d time.Duration
	var got []time.Duration
	for range 9 {
		d = retry.Backoff(d, 50*time.Millisecond, 5*time.Second)
		got = append(got, d)
	}
	want := "[50ms 100ms 200ms 400ms 800ms 1.6s 3.2s 5s 5s]"
	if fmt.Sprint(got) != want {
		t.Errorf("backoff %v, want %s", got, want)
	}
	// A max that is not a power-of-two multiple of min is reached, not passed.
	if d := retry.Backoff(3*time.Second, time.Second, 5*time.Second); d != 5*time.Second {
		t.Errorf("Backoff(3s, 1s, 5s) = %v, want 5s", d)
	}
	// No overflow near the top of the range.
	if d := retry.Backoff(1<<62, time.Second, 1<<63-1); d != 1<<63-1 {
		t.Errorf("Backoff near the limit = %v", d)
	}
}

func ExampleBackoff() {
	var wait time.Duration // zero: no failure yet
	for range 4 {
		wait = retry.Backoff(wait, time.Second, 5*time.Second)
		fmt.Println(wait)
	}
	wait = 0 // a success resets it
	fmt.Println(retry.Backoff(wait, time.Second, 5*time.Second))
	// Output:
	// 1s
	// 2s
	// 4s
	// 5s
	// 1s
}
