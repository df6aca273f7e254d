package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/bus/bustest"
	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

// The bus's tests at the scale of boxes: edge boxes and a central box, each
// the service exactly as `liqbox run` builds it (loadtest's rig), on one
// in-process nats-server; the central box alerts a loopback Bot API
// (telegramtest).

const busChat int64 = 777001

func startNATS(t testing.TB) *bustest.Server {
	t.Helper()
	metrics.ExposeMetadata(true) // as the command line does for every command
	srv, err := bustest.Start(bustest.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// startEdge is an edge box publishing to natsURL; with exchange set it
// reads that loopback exchange instead of its own.
func startEdge(t testing.TB, natsURL, name, exchange string, logs io.Writer) *loadtest.Rig {
	t.Helper()
	r, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: t.TempDir(), Edit: func(c *service.Config, o *service.Options) {
		c.Bus.URL, c.Bus.BoxName, c.Bus.Publish = natsURL, name, true
		c.Telegram.Enabled = false // the edge box alerts nobody here: the central box does
		if exchange != "" {
			c.Venues[event.BinanceUSDM].StreamURL = exchange
		}
		if logs != nil {
			o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// startCentral is a central box: no venue of its own, the bus as its one
// source, alerting busChat at tg from $10k at test-short limits.
func startCentral(t testing.TB, natsURL, dir string, tg *telegramtest.Server, edit func(*service.Config)) *loadtest.Rig {
	t.Helper()
	r, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: dir, Edit: func(c *service.Config, o *service.Options) {
		for _, vs := range c.Venues {
			vs.Enabled = false
		}
		c.Bus.URL, c.Bus.BoxName, c.Bus.Consume = natsURL, "central", true
		c.Telegram.APIURL = tg.URL()
		c.Telegram.Chats, c.Telegram.AllowUsers = []int64{busChat}, []int64{busChat}
		c.Telegram.MinUSD = 10000
		c.Telegram.Limits.PerChat = time.Millisecond
		c.Telegram.Limits.Global = time.Millisecond
		o.TGToken = telegramtest.Token
		if edit != nil {
			edit(c)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func newBotAPI(t testing.TB) *telegramtest.Server {
	t.Helper()
	tg, err := telegramtest.NewServer(telegramtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	return tg
}

// alertTexts are the single alerts the Bot API received, by text.
func alertTexts(tg *telegramtest.Server) map[string]int {
	out := map[string]int{}
	for _, r := range tg.Requests("sendMessage") {
		if strings.Contains(r.Text, " liquidated</b>") {
			// The on-box figure differs between copies; the rest is the liquidation.
			out[r.Text[:strings.LastIndex(r.Text, "on-box")]]++
		}
	}
	return out
}

// TestTwoEdgeBoxesOneAlert: two edge boxes read the same loopback
// exchange and both publish every liquidation; the central box alerts each
// liquidation exactly once and logs it once, the second copy dropped by
// the pipeline's dedup as a redundant connection's would be.
func TestTwoEdgeBoxesOneAlert(t *testing.T) {
	nats := startNATS(t)
	tg := newBotAPI(t)
	a := startEdge(t, nats.URL(), "tokyo-1", "", nil)
	url := a.Config.Venues[event.BinanceUSDM].StreamURL
	b := startEdge(t, nats.URL(), "tokyo-2", url, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Exchange.WaitClients(ctx, 2); err != nil {
		t.Fatal(err)
	}
	central := startCentral(t, nats.URL(), t.TempDir(), tg, nil)

	// Every fifth liquidation is above the chat's $10k, each sent once the
	// one before reached the chat: a pace one chat takes alert by alert
	// (faster, its alerts fold into a cascade digest); the others are
	// logged, not alerted.
	const n, large = 40, 8
	base := time.Now().Add(time.Minute).Truncate(time.Second).UnixMilli() // after the subscription: not backlog
	for i := 0; i < n; i++ {
		qty := 0.01 + 0.001*float64(i) // $500 to $2.5k at 50,000
		if i%5 == 4 {
			qty = float64(i + 1)
		}
		a.Exchange.Broadcast(frame("BTCUSDT", "SELL", ftoa(qty), "50000", "50000", base+int64(i)))
		time.Sleep(30 * time.Millisecond)
		if i%5 == 4 {
			// One large liquidation at a time reaches the chat: on a slow
			// box the consumer may catch up in a clump, which the chat
			// would rightly fold into a cascade digest.
			deadline := time.Now().Add(5 * time.Second)
			for len(alertTexts(tg)) < (i+1)/5 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	if err := a.WaitSeq(ctx, n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitSeq(ctx, n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := central.WaitSeq(ctx, n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(alertTexts(tg)) < large && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a second copy would be alerted by now
	alerts := alertTexts(tg)
	if len(alerts) != large {
		for _, r := range tg.Requests("sendMessage") {
			t.Logf("%q", r.Text)
		}
		t.Fatalf("%d distinct alerts at the central box's Bot API, want %d", len(alerts), large)
	}
	for text, k := range alerts {
		if k != 1 {
			t.Errorf("alerted %d times: %q", k, text)
		}
	}
	if seq := central.Service.LastSeq(); seq != n {
		t.Errorf("the central box numbered %d events, want %d", seq, n)
	}
	if d := loadtest.CounterSum(central.Service.Metrics(), "liqbox_pipeline_duplicates_total"); d != n {
		t.Errorf("the central box dropped %v duplicates, want %d (one per liquidation)", d, n)
	}
	st := central.Service.BusStatus(time.Now())
	if st == nil || st.Consume == nil || len(st.Consume.Boxes) != 2 {
		t.Fatalf("central bus status: %+v", st)
	}
	for _, rb := range st.Consume.Boxes {
		if rb.Events != n || rb.LastAge < 0 {
			t.Errorf("remote box %+v: want %d events and an age", rb, n)
		}
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// TestCentralCatchUpAlertsNothingOld: a central box that was stopped while
// an edge box published catches up with every event into its log, and
// the Bot API receives no alert for any of them; what arrives fresh after
// is alerted.
func TestCentralCatchUpAlertsNothingOld(t *testing.T) {
	nats := startNATS(t)
	tg := newBotAPI(t)
	edge := startEdge(t, nats.URL(), "tokyo-1", "", nil)
	dir := t.TempDir()
	edit := func(c *service.Config) { c.Bus.AlertMaxAge = time.Second }
	central := startCentral(t, nats.URL(), dir, tg, edit)
	waitUp(t, central)
	central.Stop()

	base := time.Now().Add(time.Minute).Truncate(time.Second).UnixMilli()
	const old = 100
	for i := 0; i < old; i++ {
		edge.Exchange.Broadcast(frame("ETHUSDT", "BUY", ftoa(float64(100+i)), "3000", "3000", base+int64(i)))
	}
	ctx := context.Background()
	if err := edge.WaitSeq(ctx, old, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // older than alert_max_age when the central box is back

	central = startCentral(t, nats.URL(), dir, tg, edit)
	if err := central.WaitSeq(ctx, old, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	edge.Exchange.Broadcast(frame("SOLUSDT", "SELL", "1000", "150", "150", base+old))
	if err := central.WaitSeq(ctx, old+1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(alertTexts(tg)) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	// Nothing else reached the chat: no alert, no cascade digest of old ones.
	sent := tg.Requests("sendMessage")
	if len(sent) != 1 || !strings.Contains(sent[0].Text, "SOLUSDT") {
		for _, r := range sent {
			t.Logf("%q", r.Text)
		}
		t.Fatalf("%d messages after the catch-up; want only the fresh SOLUSDT alert", len(sent))
	}
	if n := loadtest.CounterSum(central.Service.Metrics(), "liqbox_bus_consume_backlog_total"); n != old {
		t.Errorf("backlog by age %v, want %d", n, old)
	}
}

func waitUp(t testing.TB, r *loadtest.Rig) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := r.Service.BusStatus(time.Now())
		if st != nil && st.Connected && (st.Consume == nil || st.Consume.Up) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("bus not up: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBusInStatusAndMetrics: /api/status, Telegram's /status and /metrics
// show the bus: the connection, the publish lag, the consumer's lag and
// each remote box's last event; a password in bus.url appears in none of
// them nor in the log; a central box that loses the bus says so on
// /healthz after the grace.
func TestBusInStatusAndMetrics(t *testing.T) {
	metrics.ExposeMetadata(true)
	nats, err := bustest.Start(bustest.Options{Dir: t.TempDir(), User: "liqbox", Password: "pa55-w0rd-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer nats.Stop()
	url := strings.Replace(nats.URL(), "nats://", "nats://liqbox:pa55-w0rd-secret@", 1)
	var logs syncBuffer
	tg := newBotAPI(t)
	edge := startEdge(t, url, "tokyo-1", "", &logs)
	central := startCentral(t, url, t.TempDir(), tg, nil)
	waitUp(t, central)
	edge.Exchange.Broadcast(frame("BTCUSDT", "SELL", "1", "60000", "60000", time.Now().Add(time.Minute).UnixMilli()))
	if err := central.WaitSeq(context.Background(), 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	es := edge.Service.StatusJSON(time.Now())
	if es.Bus == nil || !es.Bus.Connected || es.Bus.Publish == nil || es.Bus.Consume != nil || es.Bus.Box != "tokyo-1" {
		t.Fatalf("edge /api/status bus: %+v", es.Bus)
	}
	cs := central.Service.StatusJSON(time.Now())
	if cs.Bus == nil || cs.Bus.Consume == nil || !cs.Bus.Consume.Up || len(cs.Bus.Consume.Boxes) != 1 ||
		cs.Bus.Consume.Boxes[0].Box != "tokyo-1" || cs.Bus.Consume.Boxes[0].LastEventS == nil {
		t.Fatalf("central /api/status bus: %+v", cs.Bus)
	}
	tgText := central.Service.Status().Bus.Text("en")
	if !strings.Contains(tgText, "Bus: connected") || !strings.Contains(tgText, "tokyo-1: last event") {
		t.Errorf("/status bus lines: %q", tgText)
	}
	metricsText := scrape(t, "http://"+central.Service.Addr()+"/metrics") + scrape(t, "http://"+edge.Service.Addr()+"/metrics")
	for _, want := range []string{
		"liqbox_bus_connected 1", "# HELP liqbox_bus_publish_lag_events Events", "liqbox_bus_publish_lag_seconds",
		"liqbox_bus_consumer_pending", "liqbox_bus_consumer_lag_seconds", `liqbox_bus_remote_last_event_age_seconds{box="tokyo-1"}`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	page := scrape(t, "http://"+central.Service.Addr()+"/api/status") + scrape(t, "http://"+edge.Service.Addr()+"/api/status")
	for _, where := range []string{metricsText, page, logs.String(), tgText} {
		if strings.Contains(where, "pa55-w0rd") {
			t.Fatalf("the bus password leaked: %s", where)
		}
	}
	if !strings.Contains(page, "liqbox:REDACTED@") {
		t.Errorf("/api/status lacks the redacted URL")
	}

	// The bus gone: the central box's remote streams are blind; /healthz
	// says so once the grace has passed, the edge box stays healthy.
	nats.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		h := central.Service.Health(time.Now().Add(time.Minute)).Failed
		if len(h) == 1 && strings.Contains(h[0], "bus: remote streams blind") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central health with the bus gone: %v", h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h := edge.Service.Health(time.Now()); len(h.Failed) != 0 {
		t.Errorf("edge health with the bus gone: %v", h)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestBusConfig: the [bus] keys go through the one key table: a box that
// consumes needs no venue of its own, a bad URL is named without its
// password, a bad box name is refused, and config check summarises the
// bus with the password redacted.
func TestBusConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := dir + "/liqbox.conf"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var allOff string
	for _, v := range event.Venues() {
		allOff += "[venue." + v.String() + "]\nenabled = false\n"
	}
	c, err := service.LoadConfig(write(allOff + "[bus]\nurl = nats://u:s3cr3t-pw@10.0.0.1:4222\nconsume = true\nbox_name = central\n"))
	if err != nil {
		t.Fatalf("a consuming box without venues: %v", err)
	}
	if sum := c.BusSummary(); sum != "consume as central, stream LIQBOX on nats://u:REDACTED@10.0.0.1:4222" {
		t.Errorf("summary %q", sum)
	}
	if _, err := service.LoadConfig(write(allOff + "[bus]\nurl = nats://10.0.0.1:4222\npublish = true\n")); err == nil {
		t.Error("a box with no venue that only publishes was accepted")
	}
	for _, tc := range []struct{ body, want string }{
		{"[bus]\nurl = nats://u:s3cr3t-pw@[::1\n", "bus.url: not a list"},
		{"[bus]\nurl = http://u:s3cr3t-pw@host:80\n", `scheme "http"`},
		{"[bus]\nbox_name = tokyo 1\n", "bus.box_name"},
		{"[bus]\nalert_max_age = 2m\n", "bus.alert_max_age"},
		{"[bus]\nurl = nats://h:4222\nconsume = true\nconsumer = a.b\n", "bus.consumer"},
	} {
		_, err := service.LoadConfig(write(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: %v, want an error naming %s without the password", tc.body, err, tc.want)
		}
	}
}
