package event

import (
	"strings"
	"testing"
	"time"
)

// TestCoverageText pins the words a trader reads beside a venue's figures:
// the label first, then the venue's own rule, in each language.
func TestCoverageText(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		v      Venue
		en, vi string
	}{
		{BinanceUSDM, "lower bound: Binance sends at most 1 liquidation per symbol per second", "cận dưới: Binance gửi tối đa 1 lệnh thanh lý mỗi mã mỗi giây"},
		{Bybit, "complete: Bybit says it sends every liquidation, in 500 ms batches", "đầy đủ: Bybit cho biết"},
		{HTX, "undocumented: HTX does not say whether it sends every liquidation", "không rõ: HTX không nói"},
		{Gate, "complete: Gate says it sends every liquidation since 2026-08-20", "đầy đủ: Gate"},
	} {
		vc := c.v.CoverageAt(now)
		if got := vc.Text("en"); !strings.HasPrefix(got, c.en) {
			t.Errorf("%s en = %q, want %q…", c.v, got, c.en)
		}
		if got := vc.Text("vi"); !strings.HasPrefix(got, c.vi) {
			t.Errorf("%s vi = %q, want %q…", c.v, got, c.vi)
		}
		if vc.Text("fr") != vc.Text("en") {
			t.Errorf("%s: an unknown language does not fall back to English", c.v)
		}
	}
	for _, v := range Venues() {
		if vc := v.CoverageAt(now); vc.RuleVI == "" || vc.Rule == vc.RuleVI {
			t.Errorf("%s: no Vietnamese rule", v)
		}
	}
	if got := Coverage(9).Label("en"); got != "undocumented" {
		t.Errorf("an unknown coverage reads %q", got)
	}
}

// TestCoverageOverGateChange: a period of old logs that precedes Gate's
// 2026-08-20 change, or straddles it, is a lower bound; one after it is
// complete. Other venues read the same over any period.
func TestCoverageOverGateChange(t *testing.T) {
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 12, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		from, to time.Time
		want     Coverage
		rule     string
	}{
		{day(8, 1), day(8, 10), CoverageSampled, "before 2026-08-20"},
		{day(8, 1), day(8, 25), CoverageSampled, "the part of this period before the change is a lower bound"},
		{time.Time{}, day(9, 1), CoverageSampled, "the part of this period before the change"},
		{day(8, 21), day(9, 1), CoverageComplete, "since 2026-08-20"},
	} {
		got := Gate.CoverageOver(c.from, c.to)
		if got.Coverage != c.want || !strings.Contains(got.Rule, c.rule) {
			t.Errorf("gate %s→%s: %s %q, want %s with %q", c.from.Format(time.DateOnly), c.to.Format(time.DateOnly),
				got.Coverage, got.Rule, c.want, c.rule)
		}
	}
	if got := Bybit.CoverageOver(day(8, 1), day(9, 1)); got != Bybit.CoverageAt(day(9, 1)) {
		t.Errorf("bybit over a period: %+v", got)
	}
}

// TestCoverageSum: a sum is complete only when every venue in it is.
func TestCoverageSum(t *testing.T) {
	var s CoverageSum
	if !s.Empty() || s.Text("en") != "" {
		t.Fatalf("an empty sum says %q", s.Text("en"))
	}
	s.Add(Bybit, CoverageComplete)
	s.Add(KrakenFutures, CoverageComplete)
	if s.Coverage() != CoverageComplete || s.Text("en") != "totals are complete: every venue in them sends every liquidation" {
		t.Errorf("complete venues: %s %q", s.Coverage(), s.Text("en"))
	}
	s.Add(HTX, CoverageUndocumented)
	if s.Coverage() != CoverageUndocumented || s.Text("en") != "totals make no claim to be complete: htx does not say whether it sends every liquidation" {
		t.Errorf("with htx: %s %q", s.Coverage(), s.Text("en"))
	}
	s.Add(OKX, CoverageSampled)
	s.Add(BinanceUSDM, CoverageSampled)
	s.Add(OKX, CoverageSampled)
	if s.Coverage() != CoverageSampled || s.Text("en") != "totals are a lower bound: binance-usdm, okx send only some liquidations" {
		t.Errorf("with sampled venues: %s %q", s.Coverage(), s.Text("en"))
	}
	if got := s.Text("vi"); got != "tổng là cận dưới: binance-usdm, okx chỉ gửi một phần lệnh thanh lý" {
		t.Errorf("vi: %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { s.Add(Gate, CoverageComplete) }); n != 0 {
		t.Errorf("Add allocates %v times", n)
	}
}

// TestCoverageSumMerge: a sum of sums has the coverage of one sum over
// all their venues.
func TestCoverageSumMerge(t *testing.T) {
	var a, b, all CoverageSum
	a.Add(Bybit, CoverageComplete)
	all.Add(Bybit, CoverageComplete)
	b.Add(HTX, CoverageUndocumented)
	all.Add(HTX, CoverageUndocumented)
	var m CoverageSum
	m.Merge(a)
	if m != a {
		t.Fatalf("empty merged with a: %+v, want %+v", m, a)
	}
	m.Merge(b)
	if m != all || m.Coverage() != CoverageUndocumented {
		t.Errorf("a merged with b: %+v %s, want %+v", m, m.Coverage(), all)
	}
	b.Add(OKX, CoverageSampled)
	all.Add(OKX, CoverageSampled)
	m = a
	m.Merge(b)
	if m != all || m.Text("en") != "totals are a lower bound: okx sends only some liquidations" {
		t.Errorf("with okx: %q", m.Text("en"))
	}
}
