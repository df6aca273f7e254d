package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// sdNotifier speaks systemd's notification protocol (sd_notify(3)): one
// datagram of newline-separated KEY=VALUE lines to the unix socket named
// by $NOTIFY_SOCKET. It needs no library: the protocol is a sendto.
// A zero sdNotifier (not started by systemd) ignores every call.
type sdNotifier struct {
	addr *net.UnixAddr // nil when $NOTIFY_SOCKET is unset
	// watchdog is WatchdogSec as systemd passed it in $WATCHDOG_USEC, or 0
	// when the unit has no watchdog or it is meant for another process.
	watchdog time.Duration
	// stopping is set by stop: the service is shutting down on purpose,
	// so components going quiet is no longer a wedge.
	stopping atomic.Bool
}

// newSDNotifier reads the environment systemd sets for a Type=notify
// service. getenv and pid are parameters so tests need no process state.
func newSDNotifier(getenv func(string) string, pid int) *sdNotifier {
	n := &sdNotifier{}
	sock := getenv("NOTIFY_SOCKET")
	if sock == "" {
		return n
	}
	// A leading '@' is Linux's abstract namespace; the net package maps it
	// to the leading NUL the kernel expects.
	n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"}
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return n
	}
	// WATCHDOG_PID names the process systemd watches; when it is set and is
	// not us (we were started by a wrapper), pinging would be wrong.
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return n
	}
	n.watchdog = time.Duration(usec) * time.Microsecond
	return n
}

// enabled reports whether systemd listens.
func (n *sdNotifier) enabled() bool { return n.addr != nil }

// notify sends one state message, for example "READY=1". It dials for
// every message, as libsystemd does, so a systemd re-exec that recreates
// the socket never leaves us writing into a stale connection.
func (n *sdNotifier) notify(state string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("cannot reach systemd's notify socket: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("cannot notify systemd: %w", err)
	}
	return nil
}

// ready tells systemd the service is up (Type=notify units are "active"
// from here, so `systemctl start` returns only now).
func (n *sdNotifier) ready() error { return n.notify("READY=1\nSTATUS=running") }

// stop tells systemd the service is shutting down, and the watchdog to
// stop judging health while components stop one by one.
func (n *sdNotifier) stop() error {
	n.stopping.Store(true)
	return n.notify("STOPPING=1\nSTATUS=stopping")
}

// runWatchdog sends WATCHDOG=1 every half WatchdogSec while alive returns
// nil, until ctx ends. When alive fails the ping is withheld (systemd
// then kills and restarts the unit once WatchdogSec passes without one)
// and the reason goes to the unit's status line. alive gets half a period
// to answer: a check that itself hangs is a wedged box too.
func (n *sdNotifier) runWatchdog(ctx context.Context, alive func(ctx context.Context, now time.Time) error, onFail func(error)) error {
	if n.addr == nil || n.watchdog <= 0 {
		<-ctx.Done()
		return nil
	}
	period := n.watchdog / 2
	t := time.NewTicker(period)
	defer t.Stop()
	var failing bool
	// pending holds the check still running, so a hung check is not
	// started again on every tick.
	var pending chan error
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if pending == nil {
				pending = make(chan error, 1)
				go func(ch chan<- error) {
					cctx, cancel := context.WithTimeout(ctx, period/2)
					defer cancel()
					ch <- alive(cctx, now)
				}(pending)
			}
			var err error
			wait := time.NewTimer(period / 2)
			select {
			case err = <-pending:
				pending = nil
			case <-wait.C:
				err = errors.New("health check did not answer within " + (period / 2).String())
			case <-ctx.Done():
				wait.Stop()
				return nil
			}
			wait.Stop()
			switch {
			case err == nil && failing:
				failing = false
				n.notify("WATCHDOG=1\nSTATUS=running")
			case err == nil:
				n.notify("WATCHDOG=1")
			default:
				if !failing && onFail != nil {
					onFail(err)
				}
				failing = true
				n.notify("STATUS=wedged, withholding the watchdog ping: " + oneLine(err.Error()))
			}
		}
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// stallDetector decides whether the hot path is wedged: events waiting in
// the rings at two consecutive looks with no progress in between. A live
// pipeline empties its rings within microseconds, so seeing them non-empty
// twice, a watchdog period apart, with the sequence unmoved, means the
// drain loop is stuck (a sink that blocks, a deadlock), and a restart is
// the cure. An idle market (empty rings) is never a stall.
type stallDetector struct {
	pending  func() int    // events waiting in the rings
	progress func() uint64 // advances whenever the pipeline emits an event
	seen     bool
	last     uint64
	waiting  bool
}

func (d *stallDetector) check() error {
	n, p := d.pending(), d.progress()
	stalled := d.seen && d.waiting && n > 0 && p == d.last
	d.seen, d.last, d.waiting = true, p, n > 0
	if stalled {
		return fmt.Errorf("pipeline stalled: %d events waiting in the rings and no progress since the last check", n)
	}
	return nil
}

// watchdog keeps systemd's watchdog fed while the box is alive. What
// withholds the ping, and why only these:
//
//   - The hot path is stalled (stallDetector): nothing reaches Telegram or
//     the log; a restart fixes a stuck goroutine.
//   - /healthz does not answer in time over the real listener (or, with
//     HTTP off, the health computation itself hangs): the HTTP server or
//     the locks health() takes around the stream state are wedged.
//
// What does not: /healthz answering 503 because a venue has no live
// connection. That is the exchange or the uplink, which a restart cannot
// fix, and restarting in a loop would hit the unit's start limit and leave
// the box down when the exchange comes back. Nor a failing disk: the store
// retries with backoff while alerts keep flowing, and a restart would drop
// the events waiting in memory. Both stay visible on /healthz, /metrics and
// the unit's status line.
func (s *Service) watchdog(ctx context.Context, sd *sdNotifier) error {
	stall := &stallDetector{
		pending: func() int {
			n := 0
			for _, str := range s.streams {
				for _, r := range str.Rings() {
					n += r.Len()
				}
			}
			return n + s.bus.waiting()
		},
		progress: s.pipe.LastSeq,
	}
	// Its own client: no proxy from the environment, no idle connections
	// kept between probes.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var lastProblems string
	alive := func(ctx context.Context, now time.Time) error {
		if sd.stopping.Load() {
			// Components stop on purpose now; keep systemd's watchdog fed
			// until the process exits.
			return nil
		}
		if err := stall.check(); err != nil {
			return err
		}
		problems, err := s.probeHealth(ctx, client, now)
		if err != nil {
			return err
		}
		if p := strings.Join(problems, "; "); p != lastProblems {
			lastProblems = p
			if p == "" {
				p = "running"
			}
			sd.notify("STATUS=" + p)
		}
		return nil
	}
	return sd.runWatchdog(ctx, alive, func(err error) {
		s.log.Error("box looks wedged; withholding the systemd watchdog ping so the unit restarts", "err", err)
	})
}

// probeHealth asks /healthz over the real listener, so the check covers
// the HTTP server as well as health(); with HTTP off it calls health()
// directly. Either answer (200 or 503) is alive; only no answer is not.
// The reasons it returns (a degraded 200's too) become the unit's status.
func (s *Service) probeHealth(ctx context.Context, client *http.Client, now time.Time) ([]string, error) {
	addr := s.http.addr()
	if addr == "" {
		return s.Health(now).Lines(), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the HTTP address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return nil, fmt.Errorf("cannot build the /healthz probe: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot probe /healthz: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("cannot read the /healthz answer: %w", err)
	}
	// The first line is the level (ok, degraded, unhealthy), the rest the
	// reasons.
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	return lines[1:], nil
}
