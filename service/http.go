package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/metricdoc"
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

	// allowed is http.allowed_hosts, lower-cased: "host" (any port) or
	// "host:port".
	allowed []string
	// encodeErrors counts JSON answers that could not be encoded (a 500);
	// lastEncodeLog throttles their log line to one a minute.
	encodeErrors  *metrics.Counter
	lastEncodeLog atomic.Int64
	// refused counts requests refused for their Host header.
	refused *metrics.Counter
}

func newHTTPServer(addr string, ln net.Listener, s *Service, lat *stageLatency) *httpServer {
	h := &httpServer{s: s, req: addr, lat: lat,
		grace: s.o.ReconnectGrace, lastLive: map[event.Venue]time.Time{},
		encodeErrors: metricdoc.Counter(s.set, `liqbox_http_encode_errors_total`,
			"JSON answers of the HTTP API that could not be encoded (answered 500)."),
		refused: metricdoc.Counter(s.set, `liqbox_http_refused_hosts_total`,
			"HTTP requests refused because their Host header is not the listen address, a loopback name or in http.allowed_hosts (DNS rebinding)."),
	}
	for _, a := range s.cfg.HTTP.AllowedHosts {
		h.allowed = append(h.allowed, strings.ToLower(a))
	}
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
		Handler:           h.guard(mux),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return h
}

func (h *httpServer) listen() error {
	if !IsLoopbackListen(h.req) {
		// Config validation lets it through only with http.allow_remote.
		h.s.log.Warn("the HTTP window listens beyond loopback (http.allow_remote = true): /metrics, the status page and its API are not authenticated; keep the address behind a firewall or an authenticating proxy",
			"listen", h.req)
	}
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
	metricdoc.WritePrometheus(&buf, h.s.set)
	metricdoc.WriteProcessMetrics(&buf)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(buf.Bytes())
}

// healthz answers 200 "ok" while every enabled venue has a live stream
// (or is within its reconnect grace) and decodes its frames; 200
// "degraded" with the reasons while a stream's decode failures are over
// the warning threshold; 503 "unhealthy" with the reasons otherwise.
func (h *httpServer) healthz(w http.ResponseWriter, _ *http.Request) {
	hl := h.health(time.Now())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if hl.Level() == HealthFailed {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, hl.Level())
	for _, p := range hl.Lines() {
		fmt.Fprintln(w, p)
	}
}

// Health levels: the first line of /healthz and /api/status's "health".
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
	HealthFailed   = "unhealthy"
)

// Health is the /healthz verdict. Failed makes it 503: a venue without a
// live connection past the grace, or a stream most of whose frames fail to
// decode, is a venue the box is blind to. Degraded is said in a 200's
// body: the box still sees most of the venue, but not all.
type Health struct {
	Failed, Degraded []string
}

// Level is HealthFailed, HealthDegraded or HealthOK.
func (h Health) Level() string {
	switch {
	case len(h.Failed) > 0:
		return HealthFailed
	case len(h.Degraded) > 0:
		return HealthDegraded
	}
	return HealthOK
}

// Lines are the reasons, the failures first; never nil.
func (h Health) Lines() []string {
	return append(append([]string{}, h.Failed...), h.Degraded...)
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

// Health is the service's /healthz verdict at now (see httpServer.health).
func (s *Service) Health(now time.Time) Health { return s.http.health(now) }

// health is the verdict at now over every stream's decode-error rate.
func (h *httpServer) health(now time.Time) Health { return h.verdict(now, h.s.decodeStates()) }

// verdict lists what is wrong at now: each enabled venue with no live
// connection for longer than the grace, counted from the moment it was
// lost (or from the start), and each stream in decode over the
// thresholds (decodeLevel).
func (h *httpServer) verdict(now time.Time, decode []DecodeState) Health {
	h.watch(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	var hl Health
	for _, v := range h.s.watchedVenues() {
		since := h.s.started
		if t := h.lastLive[v]; t.After(since) {
			since = t
		}
		// The watcher samples once a second; the ledger knows the moment
		// each connection was lost, so the grace counts from that.
		for _, str := range h.s.streams {
			if str.Spec().Venue != v {
				continue
			}
			if g, ok := str.CurrentGap(); ok && g.Start.After(since) {
				since = g.Start
			}
		}
		if d := now.Sub(since); d > h.grace {
			hl.Failed = append(hl.Failed, fmt.Sprintf("%s: no live connection for %s (grace %s)",
				v, d.Round(time.Second), h.grace))
		}
	}
	for _, d := range decode {
		switch d.Level {
		case HealthFailed:
			hl.Failed = append(hl.Failed, d.problem())
		case HealthDegraded:
			hl.Degraded = append(hl.Degraded, d.problem())
		}
	}
	hl.Failed = append(hl.Failed, h.s.busHealth(now, h.grace)...)
	sort.Strings(hl.Failed)
	sort.Strings(hl.Degraded)
	return hl
}

func (h *httpServer) apiStatus(w http.ResponseWriter, _ *http.Request) {
	h.writeJSON(w, h.s.StatusJSON(time.Now()))
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
	h.writeJSON(w, out)
}

// index serves the status page: one embedded, self-contained HTML file
// that polls /api/status and /api/recent. The CSP forbids anything it does
// not need (no external origin, no inline event handlers from data).
func (h *httpServer) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy",
		"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:")
	w.Write(embed.StatusPage)
}

// writeJSON answers v as JSON. It encodes before it writes anything, so a
// value that cannot be encoded is a 500 that says so, never a 200 with an
// empty or cut body.
func (h *httpServer) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		h.encodeErrors.Inc()
		now := time.Now().UnixNano()
		if last := h.lastEncodeLog.Load(); now-last > int64(time.Minute) && h.lastEncodeLog.CompareAndSwap(last, now) {
			h.s.log.Error("cannot encode an HTTP API answer", "err", err)
		}
		http.Error(w, "liqbox: cannot encode the answer as JSON: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.Write(append(b, '\n'))
}

// guard refuses requests whose Host header is not one this box answers to,
// so that a web page the operator visits cannot read the API, the page or
// /metrics through a domain that rebinds to 127.0.0.1 (DNS rebinding),
// and marks every answer nosniff.
func (h *httpServer) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !h.hostAllowed(r.Host) {
			h.refused.Inc()
			host := r.Host
			if len(host) > 100 {
				host = host[:100] + "…"
			}
			http.Error(w, fmt.Sprintf("liqbox: Host %q is not this box's address; list it in http.allowed_hosts to serve it", host),
				http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a request's Host header names this box: the
// listen address (as configured or as bound), a loopback name (localhost,
// 127.0.0.0/8, ::1) with any port, since an SSH tunnel may forward any
// local port, or an entry of http.allowed_hosts ("host" matches any port,
// "host:port" only that one).
func (h *httpServer) hostAllowed(host string) bool {
	host = strings.ToLower(host)
	if host == "" {
		return false
	}
	name := host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		name = hn
	}
	name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
	if name == "localhost" {
		return true
	}
	if ip := net.ParseIP(name); ip != nil && ip.IsLoopback() {
		return true
	}
	if host == strings.ToLower(h.req) || host == h.addr() {
		return true
	}
	for _, a := range h.allowed {
		if a == host || a == name || strings.Trim(a, "[]") == name {
			return true
		}
	}
	return false
}

// RecentJSON is one row of /api/recent. A number that is unknown or not
// finite (a BitMEX quanto row has no quantity in base units) is null.
type RecentJSON struct {
	Seq         uint64   `json:"seq"`
	Venue       string   `json:"venue"`
	Symbol      string   `json:"symbol"`
	Side        string   `json:"side"`
	Price       *float64 `json:"price"`
	Qty         *float64 `json:"qty"`
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
		Price: finite(ev.Price), Qty: finite(ev.Qty), Basis: ev.NotionalBasis().String(), TimeMs: ev.TimeMs, RecvNs: ev.RecvNs,
		Backlog: ev.Flags&event.FlagBacklog != 0,
	}
	if ev.NotionalKnown() {
		r.NotionalUSD = finite(ev.Notional)
	}
	if a, ok := notes[ev.Seq]; ok {
		r.Risk, r.Summary, r.Source = a.Risk.String(), a.Summary, a.Source
	}
	return r
}

// finite is f for JSON: nil (null) when f is NaN or infinite.
func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
