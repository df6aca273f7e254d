package service

import (
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

func TestTerminalLine(t *testing.T) {
	now := time.Now()
	ev := event.Event{Seq: 42, Venue: event.Bybit, Side: event.Short, Basis: event.BasisLinear,
		Symbol: event.MakeSymbol("ETHUSDT"), Price: 3000, Qty: 500, Notional: 1.5e6,
		TimeMs: time.Date(2026, 11, 27, 8, 30, 1, 250e6, time.UTC).UnixMilli(), RecvNs: now.Add(-85 * time.Microsecond).UnixNano()}
	got := string(AppendTerminalLine(nil, &ev, now, false))
	for _, want := range []string{"08:30:01.250", "bybit", "ETHUSDT", "SHORT liquidated", "$1.5M", "@ 3", "seq 42", "on-box 85µs"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "\x1b[") {
		t.Error("colour codes without a TTY")
	}
	if !strings.Contains(string(AppendTerminalLine(nil, &ev, now, true)), "\x1b[32m") {
		t.Error("no colour on a TTY")
	}
	a := event.Analysis{Seq: 42, Risk: event.RiskHigh, Summary: "line\x1b[2Jbreak\nmore", Source: "llm"}
	note := string(AppendTerminalNote(nil, &a, false))
	if strings.ContainsAny(note[:len(note)-1], "\x1b\n") {
		t.Errorf("control characters from the model reached the terminal: %q", note)
	}
}

func BenchmarkTerminalLine(b *testing.B) {
	now := time.Now()
	ev := event.Event{Seq: 42, Venue: event.Bybit, Side: event.Short, Basis: event.BasisLinear,
		Symbol: event.MakeSymbol("ETHUSDT"), Price: 3000, Qty: 500, Notional: 1.5e6, RecvNs: now.UnixNano()}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendTerminalLine(buf[:0], &ev, now, true)
	}
}
