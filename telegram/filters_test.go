package telegram

import (
	"testing"

	"github.com/liqbox/liqbox/event"
)

// TestLoadChatFilters: the filters a chat set with its commands are read
// back from the log as the bot applies them, but for mutes.
func TestLoadChatFilters(t *testing.T) {
	f := newFakeAPI(t)
	kv := newMemKV()
	h := newHarness(t, f, kv, func(o *Options) { o.MinUSD = 250000 })
	h.command(owner, 7, "/start")
	h.command(owner, 7, "/setthreshold 100k")
	h.command(owner, 7, "/side long")
	h.command(owner, 7, "/mute BTCUSDT 1h")
	h.command(owner, 8, "/start")
	h.command(owner, 8, "/symbols ETH")
	h.command(owner, 9, "/start")
	h.command(owner, 9, "/stop")
	h.stop()

	fs, err := LoadChatFilters(kv, 250000)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 || fs[0].Chat != 7 || fs[1].Chat != 8 || fs[2].Chat != 9 || fs[2].Subscribed() || fs[1].MinUSD() != 250000 {
		t.Fatalf("filters %+v", fs)
	}
	for _, tc := range []struct {
		chat  int
		sym   string
		side  event.Side
		usd   float64
		wants bool
	}{
		{0, "BTCUSDT", event.Long, 150000, true}, // muted live, not in the filter
		{0, "BTCUSDT", event.Short, 150000, false},
		{0, "ETHUSDT", event.Long, 90000, false},
		{1, "ETHUSDT", event.Short, 300000, true},
		{1, "BTCUSDT", event.Short, 300000, false},
		{1, "ETHUSDT", event.Short, 200000, false},
		{2, "ETHUSDT", event.Short, 1e6, false},
	} {
		ev := testEvent(tc.sym, tc.side, tc.usd)
		if got := fs[tc.chat].Accepts(&ev); got != tc.wants {
			t.Errorf("chat %d, %s %v $%v: accepts %v, want %v", fs[tc.chat].Chat, tc.sym, tc.side, tc.usd, got, tc.wants)
		}
	}
}
