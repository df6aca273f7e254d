package service_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/service"
	"github.com/liqbox/liqbox/store"
)

// TestInteropMockLLMEditsTheAlert runs the whole service against the
// independent OpenAI-compatible mock (@dwmkerr/mock-llm, started by .ci/run
// with enrich/testdata/mock-llm.yaml): two liquidations arrive from a
// loopback exchange, both are alerted through a loopback Bot API, one
// batched request gets the model's JSON answer, and the chat shows it: an
// edit of each alert, or (when the spare budget cannot pay an edit each, as
// right after two alerts in a row) one reply under the newest alert
// carrying both.
func TestInteropMockLLMEditsTheAlert(t *testing.T) {
	base := os.Getenv("LIQBOX_MOCK_LLM_URL")
	if base == "" {
		t.Skip("LIQBOX_MOCK_LLM_URL not set: start @dwmkerr/mock-llm with enrich/testdata/mock-llm.yaml (see .ci/run)")
	}
	dir := t.TempDir()
	// The mock answers alerts 9001 and 9002: start the log at 9000.
	st, err := store.Open(filepath.Join(dir, "liqbox.db"), store.Options{BatchDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan error, 1)
	go func() { sdone <- st.Run(sctx) }()
	seed := event.Event{Seq: 9000, Venue: event.BinanceUSDM, Side: event.Long, Symbol: event.MakeSymbol("SEEDUSDT"),
		Price: 1, Qty: 1, Notional: 1, Basis: event.BasisLinear, TimeMs: 1, RecvNs: time.Now().Add(-time.Hour).UnixNano()}
	st.Append(&seed)
	for st.Durable() < 9000 {
		time.Sleep(time.Millisecond)
	}
	scancel()
	<-sdone
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	b := startBox(t, func(c *service.Config, o *service.Options) {
		c.General.DataDir = dir
		c.Store.Path = "liqbox.db"
		c.Telegram.Chats = []int64{42}
		c.Telegram.MinUSD = 1000
		c.Telegram.Limits.PerChat = 10 * time.Millisecond
		c.Enrich.Enabled = true
		c.Enrich.BaseURL = base
		c.Enrich.MinUSD = 1000
		c.Enrich.Window = 2 * time.Second
		c.Enrich.MaxBatch = 2
		c.Enrich.Timeout = 20 * time.Second // the default: the peer is a real server
		o.TGToken, o.LLMKey = "123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "interop-key"
	})
	find := func(method, sub string) (string, bool) {
		for _, m := range b.Bot.Delivered() {
			if m.Method == method && strings.Contains(m.Text, sub) {
				return m.Text, true
			}
		}
		return "", false
	}
	now := time.Now().UnixMilli()
	b.Exchange.Broadcast(frame("BTCUSDT", "SELL", "20", "60000", "60000", now))
	b.Exchange.Broadcast(frame("ETHUSDT", "BUY", "2", "3000", "3000", now+1))

	deadline := time.Now().Add(20 * time.Second)
	var edited string
	for time.Now().Before(deadline) {
		if s, ok := find("editMessageText", "Cut leverage on BTC longs"); ok {
			edited = s
			break
		}
		if s, ok := find("sendMessage", "Cut leverage on BTC longs"); ok {
			edited = s
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if edited == "" {
		t.Fatalf("the model's analysis of the BTC alert never reached the chat; Bot API saw %+v", b.Bot.Delivered())
	}
	for _, want := range []string{"BTCUSDT", "LONG", "deepseek-v3.2", "HIGH", "Largest BTC long liquidation"} {
		if !strings.Contains(edited, want) {
			t.Errorf("edited alert lacks %q:\n%s", want, edited)
		}
	}
	// The ETH alert's own request may still be on its way when the
	// model's answer (a loopback peer, milliseconds) is already shown.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := find("sendMessage", "SHORT liquidated"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the ETH alert was not sent; Bot API saw %+v", b.Bot.Delivered())
			break
		}
	}
}
