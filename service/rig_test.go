package service_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/service"
)

// Fake secrets shaped like the real ones; the secrets test looks for them.
const (
	testTGToken = "987654:AAFakeTokenForLiqboxTests_0123456-x"
	testLLMKey  = "sk-liqbox-test-5ecret-key-0123456789abcdef"
)

// box is the service on the loopback rig, with its log captured.
type box struct {
	*loadtest.Rig
	t    *testing.T
	logs *syncBuffer
	base string // http://ADDR of the HTTP window
}

// syncBuffer is a bytes.Buffer safe for the service's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startBox is the one service harness of the tests: loadtest's rig (the
// loopback exchange, Bot API and LLM) with the service's log captured at
// debug, no terminal, one chat alerted from $10k at test-short Telegram
// limits, enrichment off (edit turns it on: it then answers within 20 ms
// windows). edit runs last.
func startBox(t *testing.T, edit func(c *service.Config, o *service.Options)) *box {
	t.Helper()
	metrics.ExposeMetadata(true) // as the command line does for every command
	b := &box{t: t, logs: &syncBuffer{}}
	r, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: t.TempDir(), Edit: func(c *service.Config, o *service.Options) {
		c.General.LogLevel = "debug"
		c.Alerts.Terminal = false
		c.Telegram.MinUSD = 10000
		c.Telegram.Limits.PerChat = 20 * time.Millisecond
		c.Telegram.Limits.Global = time.Millisecond
		c.Enrich.Timeout = 500 * time.Millisecond
		c.Enrich.Window = 20 * time.Millisecond
		c.Enrich.MinUSD = 10000
		o.Logger = slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.TGToken, o.LLMKey = testTGToken, testLLMKey
		if edit != nil {
			edit(c, o)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.Rig = r
	b.base = "http://" + r.Service.Addr()
	t.Cleanup(func() { r.Close() })
	return b
}

// stop stops the service (once) and fails the test on its error.
func (b *box) stop() {
	if err := b.Stop(); err != nil {
		b.t.Errorf("service: %v", err)
	}
}

// play sends liquidations through the loopback exchange and waits until
// the pipeline has numbered them all.
func (b *box) play(t *testing.T, rows ...ingesttest.Liquidation) {
	t.Helper()
	want := b.Service.LastSeq() + uint64(len(rows))
	for i := range rows {
		rows[i].TimeMs = time.Now().UnixMilli()
		b.Exchange.Broadcast(ingesttest.AppendBinance(nil, &rows[i]))
	}
	b.waitSeq(want, 5*time.Second)
}

// waitSeq waits until the pipeline has numbered n events: the raw path
// (ring → pipeline → sinks' queues → log) is independent of the network.
func (b *box) waitSeq(n uint64, d time.Duration) time.Duration {
	b.t.Helper()
	t0 := time.Now()
	if err := b.WaitSeq(context.Background(), n, d); err != nil {
		b.t.Fatal(err)
	}
	return time.Since(t0)
}

func (b *box) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(b.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// alerts returns the texts of every sendMessage that is a single alert.
func (b *box) alerts() []string {
	var out []string
	for _, m := range b.Bot.Delivered() {
		if m.Method == "sendMessage" && strings.Contains(m.Text, " liquidated</b>") {
			out = append(out, m.Text)
		}
	}
	return out
}

func (b *box) waitAlerts(n int, d time.Duration) []string {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		a := b.alerts()
		if len(a) >= n {
			return a
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%d alerts at the Bot API after %v, want %d", len(a), d, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// liq is a Binance USD-M liquidation; side is the order's, as Binance
// writes it ("SELL" closes a long).
func liq(sym, side, qty, price string) ingesttest.Liquidation {
	s := event.Long
	if side == "BUY" {
		s = event.Short
	}
	return ingesttest.Liquidation{Symbol: sym, Side: s, Qty: qty, Price: price}
}

// frame builds a Binance USD-M combined-stream frame at exchange time tMs.
func frame(sym, side, qty, price, avg string, tMs int64) []byte {
	l := liq(sym, side, qty, price)
	l.AvgPrice, l.TimeMs = avg, tMs
	return ingesttest.AppendBinance(nil, &l)
}

// metricSum adds the service's counters named name or name{…}.
func metricSum(b *box, name string) float64 { return loadtest.CounterSum(b.Service.Metrics(), name) }
