package service_test

import (
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/ingest/ingesttest"
	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/metricdoc"
	"github.com/liqbox/liqbox/service"
)

// TestREADMEDocumentsEveryMetric runs a box with every part that declares
// metrics switched on (every venue on its loopback exchange, the relay,
// the bus publishing and consuming, enrichment, the terminal, cascade
// rules, per-chat labels), lets one liquidation through, and checks that
// README's metrics reference names, in full and in backticks, every
// liqbox_* family the service's metrics set declares or describes
// (metricdoc.Families: also the families whose series come later, per
// chat or per remote box).
func TestREADMEDocumentsEveryMetric(t *testing.T) {
	nats := startNATS(t)
	relay := startRelay(t, ingesttest.RelayOptions{})
	r, err := loadtest.StartRig(context.Background(), loadtest.RigOptions{Dir: t.TempDir(), Mix: true, Edit: func(c *service.Config, o *service.Options) {
		c.Bus.URL, c.Bus.BoxName, c.Bus.Publish, c.Bus.Consume = nats.URL(), "readme", true, true
		relayOn(c, relay)
		c.Enrich.Enabled = true
		c.Alerts.Terminal, o.Stdout = true, io.Discard
		c.Telegram.MetricsChatLabels = true
		if err := c.Set("telegram.cascades", "BTC:1M:5m"); err != nil {
			t.Fatal(err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	l := liq("BTCUSDT", "SELL", "1", "60000")
	l.TimeMs = time.Now().UnixMilli()
	r.Exchange.Broadcast(ingesttest.AppendBinance(nil, &l))
	if err := r.WaitSeq(context.Background(), 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, _ := strings.Cut(string(readme), "\n### Metrics reference\n")
	ref, _, _ = strings.Cut(ref, "\n### ")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`(liqbox_[a-z0-9_]+)`").FindAllStringSubmatch(ref, -1) {
		named[m[1]] = true
	}
	if len(named) == 0 {
		t.Fatal("README has no metrics reference")
	}
	fams := metricdoc.Families(r.Service.Metrics())
	for _, fam := range fams {
		if strings.HasPrefix(fam, "liqbox_") && !named[fam] {
			t.Errorf("README's metrics reference lacks %s", fam)
		}
	}
}
