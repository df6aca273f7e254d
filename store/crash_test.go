package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
)

const crashEnv = "LIQBOX_STORE_CRASH_CHILD"

// TestCrashChild is the writer that TestCrashRecovery kills. It does
// nothing unless started by that test. It appends a sustained burst,
// continuing the sequence after restart, and reports on stdout what is
// durable ("d SEQ") and which acknowledgement is persisted ("a SEQ").
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrashRecovery")
	}
	s, err := Open(path, Options{Metrics: metrics.NewSet(), BatchDelay: 2 * time.Millisecond})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(3)
	}
	go s.Run(context.Background())
	out := bufio.NewWriter(os.Stdout)
	seq := s.LastSeq()
	var pendingAck, ackAfter uint64
	for {
		for i := 0; i < 200; i++ {
			seq++
			ev := crashEvent(seq)
			for !s.Append(&ev) {
				time.Sleep(100 * time.Microsecond)
			}
		}
		d := s.Durable()
		fmt.Fprintf(out, "d %d\n", d)
		// An Ack is persisted by the first commit that takes events
		// appended after it.
		if pendingAck != 0 && d >= ackAfter {
			fmt.Fprintf(out, "a %d\n", pendingAck)
			pendingAck = 0
		}
		if pendingAck == 0 && d > 0 {
			s.Ack("sink", d)
			pendingAck, ackAfter = d, seq+1
		}
		out.Flush()
		time.Sleep(time.Millisecond)
	}
}

func crashEvent(seq uint64) event.Event {
	return mkEvent(seq, time.Now())
}

// TestCrashRecovery kills a writing child process with SIGKILL at random
// moments and checks after each restart that every event it reported
// durable is there exactly once, that sequence numbers are contiguous and
// monotonic, and that nothing acknowledged is delivered again.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(1, 2))
	var lastDurable, lastAck uint64
	for round := 0; round < 8; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		kill := time.After(time.Duration(80+rng.IntN(250)) * time.Millisecond)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(l)
				if len(f) != 2 {
					t.Fatalf("child: %s", l)
				}
				n, _ := strconv.ParseUint(f[1], 10, 64)
				switch f[0] {
				case "d":
					lastDurable = max(lastDurable, n)
				case "a":
					lastAck = max(lastAck, n)
				}
			case <-kill:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			}
		}
		_ = cmd.Wait()

		s, err := Open(path, Options{Metrics: metrics.NewSet()})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if s.LastSeq() < lastDurable {
			t.Errorf("round %d: last seq %d, but %d was reported durable", round, s.LastSeq(), lastDurable)
		}
		var want uint64 = 1
		err = s.Scan(time.Time{}, time.Time{}, func(ev *event.Event) error {
			if ev.Seq != want {
				return fmt.Errorf("seq %d where %d was expected (missing or duplicated)", ev.Seq, want)
			}
			if ev.Price != 97000.5+float64(ev.Seq) {
				return fmt.Errorf("seq %d holds another event's data", ev.Seq)
			}
			want++
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if want-1 != s.LastSeq() {
			t.Errorf("round %d: scanned to %d, last seq %d", round, want-1, s.LastSeq())
		}
		cp := s.Checkpoint("sink")
		if cp < lastAck {
			t.Errorf("round %d: checkpoint %d, but ack %d was persisted", round, cp, lastAck)
		}
		_, _, err = s.Redeliver("sink", 24*time.Hour, time.Now(), func(ev *event.Event) {
			if ev.Seq <= cp {
				t.Errorf("round %d: acknowledged seq %d delivered again", round, ev.Seq)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d events, durable reported %d, checkpoint %d", round, s.LastSeq(), lastDurable, cp)
		s.Close()
	}
}
