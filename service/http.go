package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
)

// httpServer serves /metrics, /healthz, the status page and its JSON API
// on one listener, loopback by default.
type httpServer struct {
	s   *Service
	req string
	srv *http.Server
	// ln is set once by listen; tests and the systemd notifier read the
	// address from other goroutines while run binds it.
	ln  atomic.Pointer[net.Listener]
	lat *stageLatency

	// grace is how long a venue may go without a live connection before
	// /healthz fails (Options.ReconnectGrace).
	grace time.Duration

	mu       sync.Mutex // guards lastLive
	lastLive map[event.Venue]time.Time
}

func newHTTPServer(addr string, ln net.Listener, s *Service, lat *stageLatency) *httpServer {
	h := &httpServer{s: s, req: addr, lat: lat,
		grace: s.o.ReconnectGrace, lastLive: map[event.Venue]time.Time{}}
	if ln != nil {
		h.ln.Store(&ln)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", h.metrics)
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /api/status", h.apiStatus)
	mux.HandleFunc("GET /api/recent", h.apiRecent)
	mux.HandleFunc("GET /{$}", h.index)
	h.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return h
}

func (h *httpServer) listen() error {
	if h.req == "" || h.ln.Load() != nil {
		return nil
	}
	ln, err := net.Listen("tcp", h.req)
	if err != nil {
		return fmt.Errorf("cannot listen on %s for /metrics: %w", h.req, err)
	}
	h.ln.Store(&ln)
	return nil
}

// closeListener closes a listener that was bound (or handed over) but
// never served.
func (h *httpServer) closeListener() {
	if ln := h.ln.Load(); ln != nil {
		(*ln).Close()
	}
}

// addr is the bound address ("" when HTTP is off).
func (h *httpServer) addr() string {
	ln := h.ln.Load()
	if ln == nil {
		return ""
	}
	return (*ln).Addr().String()
}

func (h *httpServer) serve(ctx context.Context) error {
	// The watcher notes when each venue was last live, so that the grace
	// after a disconnect counts from the loss, not from the last connect.
	t := time.NewTicker(time.Second)
	defer t.Stop()
	h.watch(time.Now())
	var errc chan error
	if ln := h.ln.Load(); ln != nil {
		errc = make(chan error, 1)
		go func() { errc <- h.srv.Serve(*ln) }()
	}
	for {
		select {
		case now := <-t.C:
			h.watch(now)
		case err := <-errc:
			return err
		case <-ctx.Done():
			if errc == nil {
				return nil
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := h.srv.Shutdown(sctx)
			if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
				err = e
			}
			return err
		}
	}
}

// metrics writes liqbox's own metrics, then Go runtime (go_*) and process
// (process_*) metrics.
func (h *httpServer) metrics(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer
	h.s.set.WritePrometheus(&buf)
	metrics.WriteProcessMetrics(&buf)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	h.s.m.writeMetricsWithHelp(w, buf.Bytes())
}

// healthz is 200 while every enabled venue has a live stream or is within
// its reconnect grace, 503 with the reasons otherwise.
func (h *httpServer) healthz(w http.ResponseWriter, _ *http.Request) {
	problems := h.health(time.Now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "unhealthy")
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintln(w, "ok")
}

// reconnectGrace is how long a venue may have no live connection before
// /healthz says so: long enough for a normal reconnect with backoff.
const reconnectGrace = 45 * time.Second

// watch records, at now, which venues have a live connection.
func (h *httpServer) watch(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, str := range h.s.streams {
		if str.Live() > 0 {
			h.lastLive[str.Spec().Venue] = now
		}
	}
}

// Health is the service's /healthz verdict at now: what is wrong, nothing
// when healthy (see httpServer.health).
func (s *Service) Health(now time.Time) []string { return s.http.health(now) }

// health lists what is wrong at now: each enabled venue with no live
// connection for longer than the grace, counted from the last moment it
// was seen live (or from the start).
func (h *httpServer) health(now time.Time) []string {
	h.watch(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	var problems []string
	for v := range h.s.insts {
		since := h.s.started
		if t := h.lastLive[v]; t.After(since) {
			since = t
		}
		if d := now.Sub(since); d > h.grace {
			problems = append(problems, fmt.Sprintf("%s: no live connection for %s (grace %s)",
				v, d.Round(time.Second), h.grace))
		}
	}
	problems = append(problems, h.s.busHealth(now, h.grace)...)
	sort.Strings(problems)
	return problems
}

func (h *httpServer) apiStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, h.s.StatusJSON(time.Now()))
}

func (h *httpServer) apiRecent(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	if n <= 0 || n > 500 {
		n = 100
	}
	minUSD, _ := strconv.ParseFloat(r.URL.Query().Get("min_usd"), 64)
	evs, notes := h.s.recent.newest(n, minUSD)
	out := make([]RecentJSON, 0, len(evs))
	for i := range evs {
		out = append(out, newRecentJSON(&evs[i], notes))
	}
	writeJSON(w, out)
}

// index serves the status page: one embedded, self-contained HTML file
// that polls /api/status and /api/recent. The CSP forbids anything it does
// not need (no external origin, no inline event handlers from data).
func (h *httpServer) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy",
		"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
	w.Write(embed.StatusPage)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.Encode(v)
}

// RecentJSON is one row of /api/recent.
type RecentJSON struct {
	Seq         uint64   `json:"seq"`
	Venue       string   `json:"venue"`
	Symbol      string   `json:"symbol"`
	Side        string   `json:"side"`
	Price       float64  `json:"price"`
	Qty         float64  `json:"qty"`
	NotionalUSD *float64 `json:"notional_usd"`
	Basis       string   `json:"notional_basis"`
	TimeMs      int64    `json:"time_ms"`
	RecvNs      int64    `json:"recv_ns"`
	Backlog     bool     `json:"backlog,omitempty"`
	Risk        string   `json:"risk,omitempty"`
	Summary     string   `json:"summary,omitempty"`
	Source      string   `json:"analysis_source,omitempty"`
}

func newRecentJSON(ev *event.Event, notes map[uint64]event.Analysis) RecentJSON {
	r := RecentJSON{
		Seq: ev.Seq, Venue: ev.Venue.String(), Symbol: ev.Symbol.String(), Side: ev.Side.String(),
		Price: ev.Price, Qty: ev.Qty, Basis: ev.Basis.String(), TimeMs: ev.TimeMs, RecvNs: ev.RecvNs,
		Backlog: ev.Flags&event.FlagBacklog != 0,
	}
	if ev.NotionalKnown() {
		n := ev.Notional
		r.NotionalUSD = &n
	}
	if a, ok := notes[ev.Seq]; ok {
		r.Risk, r.Summary, r.Source = a.Risk.String(), a.Summary, a.Source
	}
	return r
}
