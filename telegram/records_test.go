package telegram

import (
	"strconv"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
)

// emptyLog is a Log with nothing in it: the chats' schedulers still read
// their records back at start.
type emptyLog struct{}

func (emptyLog) Checkpoint(string) uint64 { return 0 }
func (emptyLog) Redeliver(string, time.Duration, time.Time, func(*event.Event)) (int, int, error) {
	return 0, 0, nil
}

// putSettings stores chat's settings as the bot does.
func putSettings(t *testing.T, kv *memKV, chat int64, s *settings) {
	t.Helper()
	v, err := s.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(bucketChats, []byte(strconv.FormatInt(chat, 10)), v); err != nil {
		t.Fatal(err)
	}
}

// TestABadRecordDoesNotStopTheBot: one chat's settings that do not decode,
// among good ones, used to fail New (and `liqbox run` crash-looped). The
// bot starts, the good chats get their alerts, and the bad record is
// counted once; a bad record of every other kind the bot reads back at
// start is skipped and counted too.
func TestABadRecordDoesNotStopTheBot(t *testing.T) {
	kv := newMemKV()
	putSettings(t, kv, 7, &settings{Subscribed: true, MinUSD: 100_000, Lang: "en"})
	putSettings(t, kv, 8, &settings{Subscribed: true, MinUSD: 100_000, Lang: "vi"})
	kv.Put(bucketChats, []byte("9"), []byte(`{"subscribed":tru`))
	kv.Put(bucketSent, []byte("7"), []byte{sentVersion, 1, 2, 3})
	kv.Put(bucketCascades, []byte("8"), []byte(`[{"rule":`))
	kv.Put(bucketState, keyOffset, []byte{1, 2, 3})
	set := metrics.NewSet()
	f := newFakeAPI(t)
	h := newHarness(t, f, kv, func(o *Options) { o.Metrics, o.Log = set, emptyLog{} })

	ev := testEvent("BTCUSDT", event.Long, 1e6)
	ev.Seq = 1
	h.b.Offer(&ev)
	got := map[int64]int{}
	for _, r := range f.waitN("sendMessage", 2) {
		got[r.Chat]++
	}
	if got[7] != 1 || got[8] != 1 {
		t.Errorf("alerts by chat = %v, want one each to 7 and 8", got)
	}
	if r := f.waitN("getUpdates", 1)[0]; r.Params["offset"] != nil && r.Params["offset"].(float64) != 0 {
		t.Errorf("first poll with offset %v from a bad record, want the server's", r.Params["offset"])
	}
	for kind, want := range map[string]uint64{recChat: 1, recAwaiting: 1, recCascades: 1, recOffset: 1} {
		c := h.b.m.badRecords[kind]
		waitFor(t, 2*time.Second, kind+" counted", func() bool { return c.Get() >= want })
		if n := c.Get(); n != want {
			t.Errorf("bad %s records counted %d, want %d", kind, n, want)
		}
	}
	h.b.mu.Lock()
	_, bad := h.b.chats[9]
	h.b.mu.Unlock()
	if bad {
		t.Error("the chat of the bad record was loaded")
	}
}

// TestToolsSkipABadRecord: liqbox compare and replay read the chats'
// settings too; one bad record used to fail them.
func TestToolsSkipABadRecord(t *testing.T) {
	kv := newMemKV()
	rule := storeRule(mustRule(t, "BTC:10M:5m"))
	putSettings(t, kv, 7, &settings{Subscribed: true, MinUSD: 200_000, Lang: "en", Cascades: []storedRule{rule}, CascadesSet: true})
	putSettings(t, kv, 9, &settings{Subscribed: false, Lang: "en"})
	kv.Put(bucketChats, []byte("8"), []byte(`{"min_usd":"lots"}`))
	kv.Put(bucketChats, []byte("chat"), []byte(`{}`))

	fs, err := LoadChatFilters(kv, 50_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Chat != 7 || fs[0].MinUSD() != 200_000 || fs[1].Chat != 9 || fs[1].MinUSD() != 50_000 || fs[1].Subscribed() {
		for _, f := range fs {
			t.Logf("chat %d min %v subscribed %v", f.Chat, f.MinUSD(), f.Subscribed())
		}
		t.Error("want chats 7 ($200K) and 9 (stopped, $50K)")
	}
	rules, err := StoredCascadeRules(kv)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 1 || len(rules[7]) != 1 {
		t.Errorf("cascade rules = %v, want chat 7's one", rules)
	}
}
