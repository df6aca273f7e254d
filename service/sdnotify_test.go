package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// NotifySocket is systemd's end of the protocol: a unix datagram socket in
// a temp dir whose messages the test reads. Exported for the external
// tests of the running service.
type NotifySocket struct {
	t    *testing.T
	conn *net.UnixConn
	Path string
}

func NewNotifySocket(t *testing.T) *NotifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &NotifySocket{t: t, conn: conn, Path: path}
}

// next returns the next message, or fails the test after d.
func (s *NotifySocket) Next(d time.Duration) string {
	s.t.Helper()
	buf := make([]byte, 4096)
	s.conn.SetReadDeadline(time.Now().Add(d))
	n, err := s.conn.Read(buf)
	if err != nil {
		s.t.Fatalf("no notification within %v: %v", d, err)
	}
	return string(buf[:n])
}

// waitFor reads messages until one contains want; it returns the messages
// read before it.
func (s *NotifySocket) WaitFor(want string, d time.Duration) []string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	var before []string
	for {
		left := time.Until(deadline)
		if left <= 0 {
			s.t.Fatalf("no %q within %v; got %q", want, d, before)
		}
		m := s.Next(left)
		if strings.Contains(m, want) {
			return before
		}
		before = append(before, m)
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSDNotifierEnvironment(t *testing.T) {
	pid := 4242
	tests := []struct {
		name     string
		env      map[string]string
		enabled  bool
		watchdog time.Duration
	}{
		{"not under systemd", map[string]string{}, false, 0},
		{"notify, no watchdog", map[string]string{"NOTIFY_SOCKET": "/run/x"}, true, 0},
		{"watchdog", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}, true, 30 * time.Second},
		{"watchdog for us", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": strconv.Itoa(pid)}, true, 30 * time.Second},
		{"watchdog for another pid", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, true, 0},
		{"bad watchdog", map[string]string{"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "soon"}, true, 0},
		{"watchdog without socket", map[string]string{"WATCHDOG_USEC": "30000000"}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newSDNotifier(env(tc.env), pid)
			if n.enabled() != tc.enabled || n.watchdog != tc.watchdog {
				t.Errorf("enabled %v watchdog %v, want %v %v", n.enabled(), n.watchdog, tc.enabled, tc.watchdog)
			}
		})
	}
}

func TestSDNotifierSendsState(t *testing.T) {
	sock := NewNotifySocket(t)
	n := newSDNotifier(env(map[string]string{"NOTIFY_SOCKET": sock.Path}), os.Getpid())
	if err := n.ready(); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(time.Second); got != "READY=1\nSTATUS=running" {
		t.Errorf("got %q", got)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(time.Second); !strings.HasPrefix(got, "STOPPING=1") {
		t.Errorf("got %q", got)
	}
	if !n.stopping.Load() {
		t.Error("stop did not mark the notifier as stopping")
	}
}

func TestSDNotifierAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@liqbox-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Skipf("no abstract unix sockets here: %v", err)
	}
	defer conn.Close()
	n := newSDNotifier(env(map[string]string{"NOTIFY_SOCKET": name}), os.Getpid())
	if err := n.ready(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(time.Second))
	k, err := conn.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:k]), "READY=1") {
		t.Fatalf("got %q, %v", buf[:k], err)
	}
}

func TestSDNotifierWithoutSystemdIsSilent(t *testing.T) {
	n := newSDNotifier(env(nil), os.Getpid())
	if err := n.ready(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := n.runWatchdog(ctx, func(context.Context, time.Time) error { t.Error("checked health without a watchdog"); return nil }, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSDNotifierGoneSocketIsAnError(t *testing.T) {
	n := newSDNotifier(env(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "gone.sock")}), os.Getpid())
	if err := n.ready(); err == nil {
		t.Fatal("want an error for a socket nobody listens on")
	}
}

// TestWatchdogPingsOnlyWhileAlive drives the watchdog through healthy,
// failing, hung and recovered checks and reads what systemd would see.
func TestWatchdogPingsOnlyWhileAlive(t *testing.T) {
	sock := NewNotifySocket(t)
	n := newSDNotifier(env(map[string]string{"NOTIFY_SOCKET": sock.Path, "WATCHDOG_USEC": "80000"}), os.Getpid())
	const (
		ok = iota
		failing
		hung
	)
	var mode atomic.Int32
	var fails atomic.Int32
	alive := func(ctx context.Context, _ time.Time) error {
		switch mode.Load() {
		case failing:
			return errors.New("pipeline stalled")
		case hung:
			<-ctx.Done() // a check that never answers on its own
			time.Sleep(200 * time.Millisecond)
			return nil
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.runWatchdog(ctx, alive, func(error) { fails.Add(1) }) }()

	for range 3 {
		if got := sock.Next(time.Second); got != "WATCHDOG=1" {
			t.Fatalf("healthy: got %q", got)
		}
	}
	mode.Store(failing)
	sock.WaitFor("STATUS=wedged", time.Second)
	// While failing, no ping may arrive: only status lines.
	for range 3 {
		if got := sock.Next(time.Second); strings.Contains(got, "WATCHDOG=1") {
			t.Fatalf("pinged while failing: %q", got)
		}
	}
	mode.Store(ok)
	sock.WaitFor("WATCHDOG=1\nSTATUS=running", time.Second)
	mode.Store(hung)
	before := sock.WaitFor("did not answer", time.Second)
	for _, m := range before {
		if strings.Contains(m, "STATUS=wedged") {
			t.Fatalf("hung check reported as something else first: %q", before)
		}
	}
	mode.Store(ok)
	sock.WaitFor("WATCHDOG=1", 2*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f := fails.Load(); f != 2 {
		t.Errorf("onFail called %d times, want once per failing spell (2)", f)
	}
}

func TestStallDetector(t *testing.T) {
	var pending int
	var seq uint64
	d := &stallDetector{pending: func() int { return pending }, progress: func() uint64 { return seq }}
	steps := []struct {
		name    string
		pending int
		seq     uint64
		stalled bool
	}{
		{"idle", 0, 0, false},
		{"idle again", 0, 0, false},
		{"events arrive", 5, 0, false},
		{"drained and moved", 3, 7, false},
		{"waiting, no progress", 3, 7, true},
		{"still stuck", 9, 7, true},
		{"recovered", 0, 20, false},
		{"waiting once is fine", 4, 20, false},
		{"only duplicates, rings empty", 0, 20, false},
	}
	for _, s := range steps {
		pending, seq = s.pending, s.seq
		err := d.check()
		if (err != nil) != s.stalled {
			t.Errorf("%s: err %v, want stalled=%v", s.name, err, s.stalled)
		}
	}
}
