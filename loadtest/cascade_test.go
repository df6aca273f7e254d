package loadtest

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestCascadePattern runs the cascade bench briefly and checks counts, not
// times: every burst's cascade reached the Bot API exactly once.
func TestCascadePattern(t *testing.T) {
	if testing.Short() {
		t.Skip("a wall-clock test of about 3 s, the same on every architecture: the full suite runs it")
	}
	r, err := RunCascade(context.Background(), CascadeOptions{Rate: 200, Bursts: 4, Every: 1100 * time.Millisecond, Conns: 1, Dir: t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.missing) > 0 || r.extra > 0 || len(r.fromFrame) != 4 || len(r.fromReceive) != 4 || r.sent == 0 {
		t.Fatalf("missing %v, extra %d, %d timed from the frame and %d from receipt, %d background frames",
			r.missing, r.extra, len(r.fromFrame), len(r.fromReceive), r.sent)
	}
}
