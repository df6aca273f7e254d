package telegram

import (
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// coverageHistory is an hour of Binance USD-M and Bybit liquidations.
func coverageHistory(venues ...event.Venue) fakeHistory {
	var hist fakeHistory
	for i, v := range venues {
		ev := testEvent("BTCUSDT", event.Long, float64(100_000*(i+1)))
		ev.Venue, ev.RecvNs = v, time.Now().Add(-time.Duration(i+1)*time.Minute).UnixNano()
		hist = append(hist, ev)
	}
	return hist
}

// TestStatsSaysCoverage: /stats gives each venue's figures with whether
// they are complete or a lower bound, in the venue's own rule, and says
// whether the totals, which sum the venues, are.
func TestStatsSaysCoverage(t *testing.T) {
	for _, c := range []struct {
		name   string
		lang   string
		venues []event.Venue
		want   []string
	}{
		{"sampled and complete", "en", []event.Venue{event.BinanceUSDM, event.Bybit, event.BinanceUSDM}, []string{
			"<i>totals are a lower bound: binance-usdm sends only some liquidations</i>\n<b>By venue</b>",
			"binance-usdm: 2 · $400K\n  lower bound: Binance sends at most 1 liquidation per symbol per second",
			"bybit: 1 · $200K\n  complete: Bybit says it sends every liquidation, in 500 ms batches",
		}},
		{"complete only", "en", []event.Venue{event.Bybit, event.KrakenFutures}, []string{
			"<i>totals are complete: every venue in them sends every liquidation</i>",
			"kraken-futures: 1 · $200K\n  complete: Kraken sends every liquidation trade",
		}},
		{"undocumented", "en", []event.Venue{event.Bybit, event.HTX}, []string{
			"<i>totals make no claim to be complete: htx does not say whether it sends every liquidation</i>",
			"htx: 1 · $200K\n  undocumented: HTX does not say",
		}},
		{"vietnamese", "vi", []event.Venue{event.OKX, event.Bybit}, []string{
			"<i>tổng là cận dưới: okx chỉ gửi một phần lệnh thanh lý</i>\n<b>Theo sàn</b>",
			"okx: 1 · $100K\n  cận dưới: OKX gửi tối đa 1 lệnh thanh lý mỗi hợp đồng mỗi giây",
			"bybit: 1 · $200K\n  đầy đủ: Bybit cho biết",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeAPI(t)
			h := newHarness(t, f, newMemKV(), func(o *Options) { o.History = coverageHistory(c.venues...); o.Lang = c.lang })
			got := h.command(owner, 4, "/stats 1h")
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("/stats lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// coverageStatus is a /status whose venues carry their coverage, one of
// them a text with markup in it.
type coverageStatus struct{}

func (coverageStatus) Status() StatusReport {
	r := fakeStatus{}.Status()
	r.Venues[0].Coverage = event.BinanceUSDM.Coverage()
	r.Venues = append(r.Venues, VenueStatus{Venue: "bybit", LastFrame: -1, Coverage: event.Bybit.Coverage()},
		VenueStatus{Venue: "x", LastFrame: -1, Coverage: fakeLocalized{"en": "complete: <every> & all"}})
	return r
}

// TestStatusSaysCoverage: /status gives each venue's coverage under its
// line, escaped for Telegram's HTML.
func TestStatusSaysCoverage(t *testing.T) {
	f := newFakeAPI(t)
	h := newHarness(t, f, newMemKV(), func(o *Options) { o.Status = coverageStatus{} })
	got := h.command(owner, 4, "/status")
	for _, w := range []string{
		"binance-usdm: 2/2 connections, last frame 120ms ago, 0 gaps in 24 h\n  lower bound: Binance sends at most 1 liquidation per symbol per second\n",
		"bybit: 0/0 connections, no frame yet, 0 gaps in 24 h\n  complete: Bybit says it sends every liquidation",
		"complete: &lt;every&gt; &amp; all",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("/status lacks %q:\n%s", w, got)
		}
	}
}
