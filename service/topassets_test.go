package service_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/loadtest"
	"github.com/liqbox/liqbox/money"
	"github.com/liqbox/liqbox/service"
)

// TestTopAssetsOnStatsAndStatus (issue 17 point 6): the top assets by
// liquidated USD over 1 h and 24 h across venues are in the status model,
// so /api/status carries them (with whether each figure is a lower bound)
// and the page draws them; and Telegram's /stats, which reads the same
// log into the same asset.Totals, shows the same rows.
func TestTopAssetsOnStatsAndStatus(t *testing.T) {
	b := startBox(t, nil)
	// Binance USD-M, a sampled feed: every figure is a lower bound.
	b.play(t, liq("BTCUSDT", "SELL", "2", "50000"), liq("ETHUSDT", "BUY", "100", "3000"), liq("BTCUSDT", "BUY", "1", "50000"))

	var js service.StatusJSON
	waitUntil(t, 5*time.Second, "the three liquidations in the top assets", func() bool {
		js = b.Service.StatusJSON(time.Now())
		n := 0
		for _, a := range js.TopAssets.Assets {
			n += a.Events24
		}
		return n == 3
	})
	ta := js.TopAssets
	want := []service.AssetJSON{
		{Asset: "ETH", USD1h: 300000, USD24h: 300000, Events1h: 1, Events24: 1, Coverage1h: "sampled", Coverage24h: "sampled"},
		{Asset: "BTC", USD1h: 150000, USD24h: 150000, Events1h: 2, Events24: 2, Coverage1h: "sampled", Coverage24h: "sampled"},
	}
	if len(ta.Assets) != len(want) || ta.Assets[0] != want[0] || ta.Assets[1] != want[1] {
		t.Errorf("top assets %+v, want %+v", ta.Assets, want)
	}
	if ta.AsOfMs == nil || time.Since(time.UnixMilli(*ta.AsOfMs)) > 10*time.Second || ta.Coverage != "sampled" ||
		ta.CoverageNote != "totals are a lower bound: binance-usdm sends only some liquidations" {
		t.Errorf("as of %v, coverage %q %q", ta.AsOfMs, ta.Coverage, ta.CoverageNote)
	}

	t.Run("json", func(t *testing.T) {
		// The field names the README documents, as the wire has them.
		_, body := b.get(t, "/api/status")
		var raw struct {
			Top map[string]json.RawMessage `json:"top_assets"`
		}
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"as_of_ms", "assets", "coverage", "coverage_note"} {
			if _, ok := raw.Top[k]; !ok {
				t.Errorf("top_assets lacks %q: %s", k, body)
			}
		}
		var rows []map[string]any
		if err := json.Unmarshal(raw.Top["assets"], &rows); err != nil || len(rows) != 2 {
			t.Fatalf("top_assets.assets %s: %v", raw.Top["assets"], err)
		}
		wantRow := map[string]any{"asset": "ETH", "usd_1h": 300000.0, "usd_24h": 300000.0, "liquidations_1h": 1.0,
			"liquidations_24h": 1.0, "coverage_1h": "sampled", "coverage_24h": "sampled"}
		if fmt.Sprint(rows[0]) != fmt.Sprint(wantRow) {
			t.Errorf("first row %v, want %v", rows[0], wantRow)
		}
	})

	t.Run("page", func(t *testing.T) {
		// The page draws its table from top_assets, through textContent
		// (the status page test forbids every HTML sink).
		_, body := b.get(t, "/")
		for _, want := range []string{`<table id="assets">`, `<tbody id="assetrows">`, `id="assetscov"`, "renderAssets(st.top_assets)",
			"a.asset", "a.usd_1h", "a.usd_24h", "a.liquidations_1h", "a.liquidations_24h", `a.coverage_24h`, "ta.coverage_note", "ta.as_of_ms"} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("page lacks %q", want)
			}
		}
	})

	t.Run("stats agrees", func(t *testing.T) {
		before := len(b.Bot.Requests("sendMessage"))
		b.Bot.Say(loadtest.BenchChat, loadtest.BenchChat, "/stats")
		var reply string
		waitUntil(t, 5*time.Second, "the /stats reply", func() bool {
			rs := b.Bot.Requests("sendMessage")
			for _, r := range rs[min(before, len(rs)):] {
				if strings.Contains(r.Text, "Top assets, all venues") {
					reply = r.Text
					return true
				}
			}
			return false
		})
		// /stats's block, rendered from /api/status's rows: the same
		// assets in the same order, the same figures, the same marks.
		var blk strings.Builder
		blk.WriteString("<b>Top assets, all venues</b>\n<pre>asset             1h        24h\n")
		for _, a := range b.Service.StatusJSON(time.Now()).TopAssets.Assets {
			hour, day := "", ""
			if a.Coverage1h == "sampled" {
				hour = "≥"
			}
			if a.Coverage24h == "sampled" {
				day = "≥"
			}
			fmt.Fprintf(&blk, "%-10s %9s %10s\n", a.Asset, hour+string(money.AppendUSD(nil, a.USD1h, "")), day+string(money.AppendUSD(nil, a.USD24h, "")))
		}
		blk.WriteString("</pre>≥ includes a sampled venue: a lower bound\n")
		if !strings.Contains(reply, blk.String()) {
			t.Errorf("/stats disagrees with /api/status:\n%s\nwant the block\n%s", reply, blk.String())
		}
	})
}
