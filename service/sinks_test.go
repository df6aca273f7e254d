package service

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
	"github.com/liqbox/liqbox/event/eventtest"
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
	if l := string(AppendTerminalLine(nil, &ev, time.Time{}, false)); strings.Contains(l, "on-box") || !strings.HasSuffix(l, "seq 42\n") {
		t.Errorf("a line from the log (no now) = %q, want it to end at the seq, with no on-box figure", l)
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

// TestTerminalLineHostile: whatever an event holds, its line is one line
// with no byte a terminal acts on, and its size says unknown rather than
// a figure that is none.
func TestTerminalLineHostile(t *testing.T) {
	now := time.Now()
	for _, ev := range eventtest.Hostile() {
		line := AppendTerminalLine(nil, &ev, now, false)
		if i := eventtest.TerminalSafe(line); i >= 0 {
			t.Errorf("%q: byte %#x at %d reaches the terminal", line, line[i], i)
		}
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Errorf("%q is not one line", line)
		}
		if !ev.NotionalKnown() && !bytes.Contains(line, []byte("unknown")) {
			t.Errorf("%q: notional %v shown as a size", line, ev.Notional)
		}
		for _, bad := range []string{"NaN", "Inf"} {
			if bytes.Contains(line, []byte(bad)) {
				t.Errorf("%q shows %s", line, bad)
			}
		}
		a := event.Analysis{Seq: ev.Seq, Risk: event.RiskHigh, Source: ev.Symbol.String(), Summary: ev.Symbol.String(), Recommendation: "\u2028x\x9b"}
		note := AppendTerminalNote(nil, &a, false)
		if i := eventtest.TerminalSafe(note); i >= 0 || bytes.Count(note, []byte("\n")) != 1 {
			t.Errorf("note %q reaches the terminal at %d", note, i)
		}
	}
	if got := TerminalText("BTC\x1b[2J\\x1b\n\u202e\xff"); got != `BTC\x1b[2J\\x1b\n\u202e\xff` {
		t.Errorf("TerminalText = %s", got)
	}
	if got := TerminalText("比特币USDT"); got != "比特币USDT" {
		t.Errorf("TerminalText of a Chinese symbol = %q", got)
	}
}
