package service_test

import (
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/service"
)

// TestServiceNotifiesSystemd runs the real service under a fake systemd:
// READY=1 once it serves, watchdog pings while healthy (a venue without a
// connection must not stop them), STOPPING=1 on shutdown.
func TestServiceNotifiesSystemd(t *testing.T) {
	sock := service.NewNotifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock.Path)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")

	// The venue points at a closed loopback port: it never connects, so
	// /healthz says 503 once the (shortened) grace passes; the watchdog
	// must not care.
	b := startBox(t, func(c *service.Config, o *service.Options) {
		c.Venues[event.BinanceUSDM].StreamURL = "ws://127.0.0.1:1/market/stream"
		o.ReconnectGrace = time.Millisecond
	})
	svc := b.Service
	if before := sock.WaitFor("READY=1", 5*time.Second); len(before) > 0 {
		t.Errorf("messages before READY=1: %q", before)
	}
	if svc.Addr() == "" {
		t.Error("READY=1 before the HTTP listener was up")
	}
	sock.WaitFor("no live connection", 2*time.Second)
	sock.WaitFor("WATCHDOG=1", 2*time.Second)
	sock.WaitFor("WATCHDOG=1", 2*time.Second)
	b.stop()
	sock.WaitFor("STOPPING=1", 5*time.Second)
}
