package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/telegram/telegramtest"
)

func startRelay(t *testing.T, o ingesttest.RelayOptions) *ingesttest.Relay {
	t.Helper()
	r, err := ingesttest.NewRelay(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func waitRelaySubscribed(t *testing.T, r *ingesttest.Relay, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitSubscribed(ctx, n); err != nil {
		t.Fatal(err)
	}
}

func relayOn(c *service.Config, r *ingesttest.Relay) {
	c.Relay.Enabled = true
	c.Relay.StreamURL = r.URL()
	c.Relay.Exchanges = []string{"binance"}
	c.Relay.ThresholdUSD = 10000
}

// apiSources reads /api/status's sources.
func apiSources(t *testing.T, b *box) []service.SourceJSON {
	t.Helper()
	_, body := b.get(t, "/api/status")
	var st struct {
		Sources []service.SourceJSON `json:"sources"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	return st.Sources
}

// TestRelayBesideTheDirectFeed: the relay and the venue's own feed
// deliver the same liquidations; each is alerted and logged once (the
// first copy), and /api/status, the page's data, Telegram's /status and
// /metrics say which source was first, by how much, and which relay copy
// disagreed. The key reaches the relay's handshake and no log line.
func TestRelayBesideTheDirectFeed(t *testing.T) {
	const owner = 4343
	relay := startRelay(t, ingesttest.RelayOptions{Key: testLLMKey})
	tg, err := telegramtest.NewServer(telegramtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	b := startBox(t, func(c *service.Config, o *service.Options) {
		relayOn(c, relay)
		c.Telegram.APIURL = tg.URL()
		c.Telegram.Chats = []int64{owner}
		c.Telegram.AllowUsers = []int64{owner}
		o.TGToken = telegramtest.Token
	})
	waitRelaySubscribed(t, relay, 1)
	if h := relay.Handshakes()[0]; h.Get("Authorization") != "Bearer "+testLLMKey || h.Get("X-Model") != "deepseek-v3.2" {
		t.Fatalf("relay handshake %v", h)
	}
	sources := func() service.SourceJSON {
		for _, s := range apiSources(t, b) {
			if s.Venue == "binance-usdm" {
				return s
			}
		}
		t.Fatal("no binance-usdm row in /api/status sources")
		return service.SourceJSON{}
	}
	if s := sources(); s.DirectFirst != 0 || s.RelayFirst != 0 || s.DirectLeadP50 != nil {
		t.Fatalf("sources before any liquidation: %+v", s)
	}
	now := time.Now().UnixMilli()
	usd := func(qty, price float64) string { return strconv.FormatFloat(qty*price, 'f', 2, 64) }

	// The venue first, the relay's copy 60 ms later with its own rounding.
	b.Exchange.Broadcast(frame("BTCUSDT", "SELL", "2", "60000", "60012.5", now))
	b.waitSeq(1, 5*time.Second)
	time.Sleep(60 * time.Millisecond)
	relay.Send(ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: "BTCUSDT", Side: event.Long,
		QuantityUSD: usd(2, 60012.5), Price: "60012.5", TimeMs: now + 40, AIAnalysis: true})
	waitUntil(t, 5*time.Second, "the relay's late copy counted", func() bool { return sources().DirectFirst == 1 })

	// The relay first, the venue 30 ms later.
	relay.Send(ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: "ETHUSDT", Side: event.Short,
		QuantityUSD: usd(10, 3000), Price: "3000", TimeMs: now})
	b.waitSeq(2, 5*time.Second)
	time.Sleep(30 * time.Millisecond)
	b.Exchange.Broadcast(frame("ETHUSDT", "BUY", "10", "3000", "3000", now))
	waitUntil(t, 5*time.Second, "the venue's late copy counted", func() bool { return sources().RelayFirst == 1 })

	// The relay reports the order side for SOLUSDT.
	b.Exchange.Broadcast(frame("SOLUSDT", "SELL", "100", "150", "150", now))
	b.waitSeq(3, 5*time.Second)
	relay.Send(ingesttest.HolySheepLiquidation{Exchange: "binance", Symbol: "SOLUSDT", Side: event.Short,
		QuantityUSD: usd(100, 150), Price: "150", TimeMs: now})
	waitUntil(t, 5*time.Second, "the side disagreement", func() bool { return sources().Disagreements.Side == 1 })

	s := sources()
	if s.DirectFirst != 2 || s.RelayFirst != 1 || s.Disagreements.USD != 0 || s.Disagreements.Price != 0 {
		t.Errorf("sources %+v: want direct first 2, relay first 1, only the side disagreement", s)
	}
	if s.DirectLeadP99 == nil || *s.DirectLeadP99 < 0.025 || *s.DirectLeadP99 > 1 {
		t.Errorf("direct lead p99 %v: want about the 60 ms the relay's BTCUSDT copy waited", s.DirectLeadP99)
	}
	if s.RelayLeadP50 == nil || *s.RelayLeadP50 < 0.01 || *s.RelayLeadP50 > 0.5 {
		t.Errorf("relay lead p50 %v: want about 30 ms", s.RelayLeadP50)
	}
	if n := b.Service.LastSeq(); n != 3 {
		t.Errorf("%d events numbered, want 3: each liquidation once", n)
	}
	var alerts int
	for _, m := range tg.Requests("sendMessage") {
		if strings.Contains(m.Text, " liquidated</b>") {
			alerts++
		}
	}
	if alerts != 3 {
		t.Errorf("%d alerts sent, want 3", alerts)
	}

	text := statusCommand(t, tg, owner)
	for _, want := range []string{"binance-usdm: 2/2 connections", "binance-usdm relay race: direct first 2 (lead p50 ", "relay first 1 (p50 ", "disagreed side 1, usd 0, price 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("/status reply lacks %q:\n%s", want, text)
		}
	}
	var conns int
	for _, c := range b.Service.StatusJSON(time.Now()).Connections {
		if c.Stream == "holysheep" && c.Venue == "binance-usdm" && c.Connected {
			conns++
		}
	}
	if conns != 1 {
		t.Errorf("/api/status shows %d live relay connections, want 1", conns)
	}
	if n := metricSum(b, `liqbox_source_first_total`); n != 3 {
		t.Errorf("liqbox_source_first_total sums to %v, want 3", n)
	}
	b.stop()
	if strings.Contains(b.logs.String(), testLLMKey) {
		t.Error("the key is in the service's log")
	}
}

// TestRelayOnlyBox: with every venue off and the relay on, the box runs on
// the relay alone: its liquidations are logged and alerted, and /healthz
// holds the relayed venue to a live relay connection.
func TestRelayOnlyBox(t *testing.T) {
	relay := startRelay(t, ingesttest.RelayOptions{Key: testLLMKey})
	b := startBox(t, func(c *service.Config, o *service.Options) {
		for _, vs := range c.Venues {
			vs.Enabled = false
		}
		relayOn(c, relay)
		o.ReconnectGrace = 300 * time.Millisecond
	})
	waitRelaySubscribed(t, relay, 1)
	relay.Send(ingesttest.HolySheepLiquidation{Symbol: "BTCUSDT", Side: event.Long, QuantityUSD: "250000", Price: "61000"})
	b.waitSeq(1, 5*time.Second)
	if a := b.waitAlerts(1, 5*time.Second); !strings.Contains(a[0], "BTCUSDT") || !strings.Contains(a[0], "LONG") {
		t.Errorf("alert %q", a[0])
	}
	if resp, body := b.get(t, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz %d %s with the relay live", resp.StatusCode, body)
	}
	relay.Close()
	waitUntil(t, 10*time.Second, "/healthz failing without the relay", func() bool {
		resp, body := b.get(t, "/healthz")
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "binance-usdm: no live connection")
	})
	if n := len(b.Service.Streams()); n != 1 || b.Service.Streams()[0].Spec().Stream != "holysheep" {
		t.Errorf("%d streams, want the relay's one", n)
	}
}

// TestRelayNeedsTheKey: a relay without a key fails at start, saying
// which key it needs.
func TestRelayNeedsTheKey(t *testing.T) {
	c, err := service.LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	c.General.DataDir = t.TempDir()
	c.Relay.Enabled = true
	_, err = service.New(service.Options{Config: c})
	if err == nil || !strings.Contains(err.Error(), "HOLYSHEEP_API_KEY") {
		t.Fatalf("New without a key: %v", err)
	}
}
