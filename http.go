package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
)

// httpServer serves /metrics, /healthz, the status page and its JSON API
// on one listener, loopback by default.
type httpServer struct {
	s   *service
	req string
	ln  net.Listener
	srv *http.Server
}

func newHTTPServer(addr string, s *service) *httpServer {
	h := &httpServer{s: s, req: addr}
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
	if h.req == "" || h.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", h.req)
	if err != nil {
		return fmt.Errorf("cannot listen on %s for /metrics: %w", h.req, err)
	}
	h.ln = ln
	return nil
}

// addr is the bound address ("" when HTTP is off).
func (h *httpServer) addr() string {
	if h.ln == nil {
		return ""
	}
	return h.ln.Addr().String()
}

func (h *httpServer) serve(ctx context.Context) error {
	if h.ln == nil {
		<-ctx.Done()
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- h.srv.Serve(h.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := h.srv.Shutdown(sctx)
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		return err
	}
}

func (h *httpServer) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	h.s.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}

// healthz is 200 while every enabled venue has a live stream or is within
// its reconnect grace, 503 with the reasons otherwise.
func (h *httpServer) healthz(w http.ResponseWriter, _ *http.Request) {
	problems := h.s.health(time.Now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
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

func (s *service) health(now time.Time) []string {
	var problems []string
	live := map[event.Venue]bool{}
	lastUp := map[event.Venue]time.Time{}
	for _, str := range s.streams {
		v := str.Spec().Venue
		if str.Live() > 0 {
			live[v] = true
		}
		for _, cs := range str.States() {
			if cs.Since.After(lastUp[v]) {
				lastUp[v] = cs.Since
			}
		}
	}
	for v := range s.insts {
		if live[v] {
			continue
		}
		since := s.started
		if t := lastUp[v]; t.After(since) {
			since = t
		}
		if now.Sub(since) > reconnectGrace {
			problems = append(problems, v.String()+": no live connection")
		}
	}
	return problems
}

func (h *httpServer) apiStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, h.s.statusJSON())
}

func (h *httpServer) apiRecent(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	if n <= 0 || n > 500 {
		n = 100
	}
	minUSD, _ := strconv.ParseFloat(r.URL.Query().Get("min_usd"), 64)
	evs, notes := h.s.recent.newest(n, minUSD)
	out := make([]recentJSON, 0, len(evs))
	for i := range evs {
		out = append(out, newRecentJSON(&evs[i], notes))
	}
	writeJSON(w, out)
}

func (h *httpServer) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, `<!doctype html><meta charset="utf-8"><title>liqbox</title>
<h1>liqbox</h1><ul><li><a href="/metrics">/metrics</a><li><a href="/healthz">/healthz</a>
<li><a href="/api/status">/api/status</a><li><a href="/api/recent">/api/recent</a></ul>`)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.Encode(v)
}

// recentJSON is one row of /api/recent.
type recentJSON struct {
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

func newRecentJSON(ev *event.Event, notes map[uint64]event.Analysis) recentJSON {
	r := recentJSON{
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

// statusJSON is /api/status: the same facts as Telegram's /status.
func (s *service) statusJSON() map[string]any {
	st := s.Status()
	var conns []map[string]any
	for _, str := range s.streams {
		for _, cs := range str.States() {
			c := map[string]any{
				"venue": cs.Venue, "stream": cs.Stream, "conn": cs.Conn, "connected": cs.Connected,
				"frames": cs.Frames, "connects": cs.Reconnect, "rtt_ms": float64(cs.RTT) / 1e6,
			}
			if !cs.LastFrame.IsZero() {
				c["last_frame_age_s"] = time.Since(cs.LastFrame).Seconds()
			}
			if !cs.Since.IsZero() {
				c["since"] = cs.Since.UTC().Format(time.RFC3339)
			}
			conns = append(conns, c)
		}
	}
	gaps, _ := s.store.Gaps(time.Now().Add(-24 * time.Hour))
	var gj []map[string]any
	for _, g := range gaps {
		gj = append(gj, map[string]any{"venue": g.Venue, "stream": g.Stream,
			"start": g.Start.UTC().Format(time.RFC3339), "end": g.End.UTC().Format(time.RFC3339),
			"seconds": g.End.Sub(g.Start).Seconds(), "cause": g.Cause})
	}
	off := s.stages.clockOffset()
	var offp *float64
	if off == off { // not NaN
		offp = &off
	}
	return map[string]any{
		"version":          version,
		"uptime_s":         st.Uptime.Seconds(),
		"connections":      conns,
		"gaps_24h":         gj,
		"ring_depth":       st.RingDepth,
		"ring_capacity":    st.RingCap,
		"ring_drops":       st.RingDrops,
		"disk_bytes":       st.DiskBytes,
		"disk_limit":       st.DiskLimit,
		"enrichment":       st.Enrichment,
		"last_seq":         s.pipe.LastSeq(),
		"clock_offset_s":   offp,
		"clock_warn":       offp != nil && abs(off) > s.cfg.HTTP.ClockWarn.Seconds(),
		"health_problems":  s.health(time.Now()),
		"telegram_enabled": s.bot != nil,
		"shadow":           s.cfg.Telegram.Shadow || s.o.Shadow,
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
