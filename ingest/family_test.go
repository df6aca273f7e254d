package ingest

import (
	"time"

	"testing"

	"github.com/liqbox/liqbox/event"
)

func TestLookupFallsBackToAnAgreeingFamilyOnly(t *testing.T) {
	inv := Instrument{Market: event.Inverse, Basis: event.BasisContractSize, Size: 100, Trading: true}
	tab := NewTable(SourceEmbedded, time.Time{}, map[string]Instrument{
		"BTCUSD_PERP":   inv,
		"BTCUSD_251226": inv,
		"ETHUSD_PERP":   {Market: event.Inverse, Basis: event.BasisContractSize, Size: 10},
		"ETHUSD_251226": {Market: event.Inverse, Basis: event.BasisContractSize, Size: 20}, // disagrees
	})
	if in, ok := tab.Lookup("BTCUSD_200925"); !ok || in.Size != 100 || in.Trading {
		t.Fatalf("expired BTCUSD quarterly: got %+v %v, want the pair's 100 USD, not subscribable", in, ok)
	}
	if _, ok := tab.Lookup("ETHUSD_200925"); ok {
		t.Fatal("a family whose members disagree must stay unknown")
	}
	if _, ok := tab.Lookup("SOLUSD_200925"); ok {
		t.Fatal("a family with no listed member must stay unknown")
	}
	if _, ok := tab.Lookup("BTCUSDT"); ok {
		t.Fatal("a symbol without a family separator must not match")
	}
	if n := len(tab.Symbols(event.Inverse)); n != 2 {
		t.Fatalf("families leaked into the subscription list: %d trading symbols", n)
	}
}
