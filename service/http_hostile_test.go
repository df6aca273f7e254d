package service_test

import (
	"bufio"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/embed"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/event/eventtest"
	"github.com/liqbox/liqbox/ingest"
	"github.com/liqbox/liqbox/service"
)

// TestRecentSurvivesEveryEvent: /api/recent stays a valid JSON answer
// whatever the newest events hold. A real BitMEX ETHUSD (quanto) row has no
// quantity in base units and no USD size: it froze the page with a 200 and
// an empty body.
func TestRecentSurvivesEveryEvent(t *testing.T) {
	b := startBox(t, nil)
	dec, err := ingest.NewOfflineDecoder(event.BitMEX, embed.Instruments)
	if err != nil {
		t.Fatal(err)
	}
	quanto, err := dec.Decode(nil, []byte(`{"table":"liquidation","action":"insert","data":[{"orderID":"f8e2","symbol":"ETHUSD","side":"Sell","price":3120.5,"leavesQty":2500}]}`), time.Now().UnixNano())
	if err != nil || len(quanto) != 1 {
		t.Fatalf("quanto row: %v %v", quanto, err)
	}
	evs := append(quanto, eventtest.Hostile()...)
	for i := range evs {
		evs[i].Seq = uint64(1000 + i)
		service.OfferRecent(b.Service, &evs[i])
	}
	resp, body := b.get(t, "/api/recent?n=500")
	if resp.StatusCode != 200 || len(body) == 0 {
		t.Fatalf("GET /api/recent = %d with %d bytes", resp.StatusCode, len(body))
	}
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if len(rows) != len(evs) {
		t.Fatalf("%d rows, want %d", len(rows), len(evs))
	}
	for _, r := range rows {
		if (r["notional_usd"] == nil) != (r["notional_basis"] == "unknown") {
			t.Errorf("row %v: notional_usd %v with basis %v", r["seq"], r["notional_usd"], r["notional_basis"])
		}
	}
	q := rows[len(rows)-1] // the oldest: the quanto row
	if q["symbol"] != "ETHUSD" || q["notional_usd"] != nil || q["qty"] != nil || q["price"] != 3120.5 {
		t.Errorf("quanto row = %v", q)
	}
}

// TestJSONEncodeErrorIs500: a value that cannot be encoded is answered
// 500 with a message, never 200 with an empty body.
func TestJSONEncodeErrorIs500(t *testing.T) {
	b := startBox(t, nil)
	rec := httptest.NewRecorder()
	service.WriteJSON(b.Service, rec, map[string]float64{"x": math.NaN()})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "cannot encode") {
		t.Errorf("NaN answered %d %q", rec.Code, rec.Body.String())
	}
	if n := metricSum(b, "liqbox_http_encode_errors_total"); n != 1 {
		t.Errorf("encode errors counted %v, want 1", n)
	}
	rec = httptest.NewRecorder()
	service.WriteJSON(b.Service, rec, []int{1})
	if rec.Code != 200 || rec.Body.String() != "[\n 1\n]\n" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("good value answered %d %q", rec.Code, rec.Body.String())
	}
}

// TestHostHeaderIsChecked: a page on another origin that rebinds its name
// to 127.0.0.1 reaches the listener with its own name in Host; every path
// refuses it, and answers loopback names, the listen address and
// http.allowed_hosts.
func TestHostHeaderIsChecked(t *testing.T) {
	b := startBox(t, func(c *service.Config, _ *service.Options) {
		c.HTTP.AllowedHosts = []string{"liqbox.lan", "192.168.1.5:9464", "[fd00::5]"}
	})
	_, port, _ := net.SplitHostPort(b.Service.Addr())
	do := func(path, host string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", b.base+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	paths := []string{"/", "/api/status", "/api/recent", "/metrics", "/healthz", "/nope"}
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1.evil.example:" + port,
		"liqbox.lan.evil.example", "localhost.evil.example", "192.168.1.5", "192.168.1.5:80", "[fd00::6]", "0.0.0.0:" + port} {
		for _, p := range paths {
			resp, body := do(p, host)
			if resp.StatusCode != http.StatusMisdirectedRequest || !strings.Contains(body, "http.allowed_hosts") ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("GET %s with Host %q = %d %.80q", p, host, resp.StatusCode, body)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("refusal without nosniff")
			}
		}
	}
	for _, host := range []string{b.Service.Addr(), "localhost", "localhost:" + port, "LocalHost:8080", "127.0.0.1",
		"127.0.0.1:1234", "[::1]", "[::1]:" + port, "liqbox.lan", "LIQBOX.lan:9999", "192.168.1.5:9464", "[fd00::5]:9464"} {
		for _, p := range paths {
			resp, body := do(p, host)
			if resp.StatusCode == http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %q refused: %.80q", p, host, body)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("GET %s: no nosniff (%v)", p, resp.Header)
			}
		}
	}
	if resp, _ := do("/", "localhost:"+port); !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("page lost its CSP: %v", resp.Header)
	}
	// HTTP/1.0 without a Host header.
	conn, err := net.Dial("tcp", b.Service.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /api/status HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("no Host: %v %v", resp, err)
	}
	if n := metricSum(b, "liqbox_http_refused_hosts_total"); n < 9*float64(len(paths)) {
		t.Errorf("refusals counted %v", n)
	}
}

// TestAllowRemoteWarnsAtStart: a listen address beyond loopback, allowed
// by http.allow_remote, is served with a warning in the log.
func TestAllowRemoteWarnsAtStart(t *testing.T) {
	// The configured address is beyond loopback; the test serves it on a
	// loopback listener so that no port opens to the network.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := startBox(t, func(c *service.Config, o *service.Options) {
		c.HTTP.Listen, c.HTTP.AllowRemote = "0.0.0.0:9464", true
		o.Listener = ln
	})
	if !strings.Contains(b.logs.String(), "level=WARN") || !strings.Contains(b.logs.String(), "http.allow_remote = true") {
		t.Errorf("no warning:\n%s", b.logs.String())
	}
	quiet := startBox(t, nil)
	if strings.Contains(quiet.logs.String(), "allow_remote") {
		t.Errorf("a loopback listener warned:\n%s", quiet.logs.String())
	}
}

// TestZeroConnsIsTheVenueDefault: conns = 0 is documented as the venue's
// default (2 for Binance USD-M), and that is what runs.
func TestZeroConnsIsTheVenueDefault(t *testing.T) {
	b := startBox(t, func(c *service.Config, _ *service.Options) {
		c.Venues[event.BinanceUSDM].Conns = 0
	})
	if n := len(b.Service.Streams()[0].States()); n != 2 {
		t.Errorf("conns = 0 runs %d connections, want Binance USD-M's default 2", n)
	}
}
