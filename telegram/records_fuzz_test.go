package telegram

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/liqbox/liqbox/event"
)

// The decoders of the records the bot reads back from the log, fuzzed:
// none panics, and what decodes encodes to a record that decodes to the
// same. The seeds are valid encodings, checked first to round-trip to
// what was encoded.

// settingsSeeds are chat settings as commands leave them.
func settingsSeeds() map[int64]*settings {
	return map[int64]*settings{
		5:         {Subscribed: true, MinUSD: 250_000, Lang: "en", Mutes: map[string]int64{}},
		-100123:   {Subscribed: true, MinUSD: 1e6, Lang: "vi", Symbols: []string{"BTC", "ETHUSDT"}, Sides: 1 << event.Long, Venues: []string{"bybit", "okx"}, Mutes: map[string]int64{"SOL": 1_800_000_000}},
		424242424: {MinUSD: 50_000, Lang: "en", Mutes: map[string]int64{}, Cascades: []storedRule{{Asset: "BTC", USD: 10e6, WindowS: 300, Sides: "both"}, {USD: 50e6, WindowS: 900, Sides: "long"}}, CascadesSet: true},
	}
}

func defaultSettings() *settings {
	return &settings{MinUSD: 100_000, Lang: "en", Mutes: map[string]int64{}}
}

func TestSettingsRoundTrip(t *testing.T) {
	for id, want := range settingsSeeds() {
		v, err := want.marshal()
		if err != nil {
			t.Fatal(err)
		}
		gotID, got, err := decodeSettings([]byte(strconv.FormatInt(id, 10)), v, defaultSettings())
		if err != nil {
			t.Fatalf("chat %d: %v", id, err)
		}
		if gotID != id || !reflect.DeepEqual(got, want) {
			t.Errorf("chat %d: decoded %d %+v, want %+v", id, gotID, got, want)
		}
	}
}

// A value the record has wrong falls back to the chat defaults.
func TestSettingsDefaults(t *testing.T) {
	_, s, err := decodeSettings([]byte("5"), []byte(`{"min_usd":-3,"lang":"xx"}`), defaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if s.MinUSD != 100_000 || s.Lang != "en" {
		t.Errorf("threshold %v, language %q: want the defaults", s.MinUSD, s.Lang)
	}
}

func FuzzDecodeSettings(f *testing.F) {
	for id, s := range settingsSeeds() {
		v, _ := s.marshal()
		f.Add([]byte(strconv.FormatInt(id, 10)), v)
	}
	f.Add([]byte("7"), []byte(`{"subscribed":tru`))
	f.Add([]byte("x"), []byte(`{}`))
	f.Add([]byte("8"), []byte(`null`))
	ev := testEvent("BTCUSDT", event.Long, 1e6)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		id, s, err := decodeSettings(k, v, defaultSettings())
		if err != nil {
			return
		}
		if !(s.MinUSD > 0) || languages[s.Lang] == nil {
			t.Fatalf("decoded threshold %v, language %q", s.MinUSD, s.Lang)
		}
		s.prepare().accepts(&ev, time.Now().UnixNano(), &lazyAsset{})
		enc, err := s.marshal()
		if err != nil {
			t.Fatalf("cannot encode what decoded: %v", err)
		}
		id2, s2, err := decodeSettings([]byte(strconv.FormatInt(id, 10)), enc, defaultSettings())
		if err != nil {
			t.Fatalf("cannot decode %q, encoded from %q: %v", enc, v, err)
		}
		if enc2, _ := s2.marshal(); id2 != id || !bytes.Equal(enc2, enc) {
			t.Fatalf("round trip: chat %d %s, then %d %s", id, enc, id2, enc2)
		}
	})
}

// encodeSent is what persistLocked writes.
func encodeSent(m map[uint64]persistedAlert) []byte {
	v := []byte{sentVersion}
	for seq, p := range m {
		v = appendSent(v, seq, p)
	}
	return v
}

func sentSeed() map[uint64]persistedAlert {
	return map[uint64]persistedAlert{
		1:       {msgID: 1001, facts: alertFacts{onBox: 85 * time.Microsecond}},
		2:       {msgID: 1002, facts: alertFacts{onBox: 40 * time.Microsecond, wait: 700 * time.Millisecond}},
		1 << 40: {msgID: 2_000_000_000, facts: alertFacts{onBox: time.Millisecond, late: 72 * time.Second, replay: afterRestart}},
		9:       {msgID: 7, facts: alertFacts{late: 2 * time.Hour, replay: fromLog}},
	}
}

func TestSentRoundTrip(t *testing.T) {
	want := sentSeed()
	got, dropped, err := decodeSent(encodeSent(want))
	if err != nil || dropped != 0 || !maps.Equal(got, want) {
		t.Errorf("decoded %v (%d dropped, %v), want %v", got, dropped, err, want)
	}
	bad := encodeSent(map[uint64]persistedAlert{3: {msgID: 0}, 4: {msgID: 5, facts: alertFacts{replay: 9}}})
	bad = appendSent(bad, 1, persistedAlert{msgID: 1001})
	if got, dropped, err := decodeSent(bad); err != nil || dropped != 2 || len(got) != 1 {
		t.Errorf("entries %v, %d dropped, %v: want the one good entry kept and two dropped", got, dropped, err)
	}
	for _, v := range [][]byte{{2}, {sentVersion, 1, 2}} {
		if _, _, err := decodeSent(v); err == nil {
			t.Errorf("%v decoded", v)
		}
	}
}

func FuzzDecodeSent(f *testing.F) {
	f.Add(encodeSent(sentSeed()))
	f.Add(encodeSent(nil))
	f.Add([]byte{})
	f.Add([]byte{sentVersion, 0, 0, 0})
	en, vi := lang("en"), lang("vi")
	f.Fuzz(func(t *testing.T, v []byte) {
		m, dropped, err := decodeSent(v)
		if err != nil {
			return
		}
		if len(v) > 0 && len(m)+dropped > (len(v)-1)/sentEntrySize {
			t.Fatalf("%d entries and %d dropped from %d bytes", len(m), dropped, len(v))
		}
		for seq, p := range m {
			if p.msgID < 1 || p.facts.replay > fromLog {
				t.Fatalf("seq %d decoded as %+v", seq, p)
			}
			// What recover makes of it: the alert's text again.
			ev := testEvent("BTCUSDT", event.Short, 1e6)
			appendAlertHTML(nil, &ev, en, &p.facts)
			appendAlertHTML(nil, &ev, vi, &p.facts)
		}
		m2, dropped2, err := decodeSent(encodeSent(m))
		if err != nil || dropped2 != 0 || !maps.Equal(m2, m) {
			t.Fatalf("round trip: %v, then %v (%d dropped, %v)", m, m2, dropped2, err)
		}
	})
}

func cascadesSeed() []cascadeRecord {
	return []cascadeRecord{
		{Rule: storedRule{Asset: "BTC", USD: 10e6, WindowS: 300, Sides: "both"}, MsgID: 1001, StartNs: 1_764_600_000_000_000_000, Body: "🌊 <b>Cascade</b> BTC $12.4M in 5 min"},
		{Rule: storedRule{USD: 50e6, WindowS: 900, Sides: "long"}, MsgID: 1002, StartNs: 1_764_600_060_000_000_000, Body: "🌊 market"},
	}
}

func TestCascadesRoundTrip(t *testing.T) {
	want := cascadesSeed()
	v, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, dropped, err := decodeCascades(v)
	if err != nil || dropped != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v (%d dropped, %v), want %+v", got, dropped, err, want)
	}
	bad := append(want, cascadeRecord{Rule: storedRule{USD: 1, WindowS: 300}, MsgID: 5}, cascadeRecord{Rule: want[0].Rule})
	v, _ = json.Marshal(bad)
	if got, dropped, err := decodeCascades(v); err != nil || dropped != 2 || len(got) != 2 {
		t.Errorf("%d kept, %d dropped, %v: want the two good kept", len(got), dropped, err)
	}
}

func FuzzDecodeCascades(f *testing.F) {
	v, _ := json.Marshal(cascadesSeed())
	f.Add(v)
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"rule":{"usd":1e7,"window_s":9223372036,"sides":"short"},"msg_id":3}]`))
	f.Fuzz(func(t *testing.T, v []byte) {
		recs, _, err := decodeCascades(v)
		if err != nil {
			return
		}
		for _, rec := range recs {
			r, ok := rec.Rule.rule()
			if !ok || rec.MsgID < 1 {
				t.Fatalf("kept %+v", rec)
			}
			// The rule as the bot keeps it reads back as the same rule.
			if r2, ok := storeRule(r).rule(); !ok || r2 != r {
				t.Fatalf("rule %+v read as %+v, stored again as %+v (%v)", rec.Rule, r, r2, ok)
			}
		}
		enc, err := json.Marshal(recs)
		if err != nil {
			t.Fatalf("cannot encode what decoded: %v", err)
		}
		recs2, dropped, err := decodeCascades(enc)
		if err != nil || dropped != 0 || !reflect.DeepEqual(recs2, recs) {
			t.Fatalf("round trip: %+v, then %+v (%d dropped, %v)", recs, recs2, dropped, err)
		}
	})
}

func TestOffsetRoundTrip(t *testing.T) {
	for _, want := range []uint64{0, 1, 102, 1 << 40} {
		got, err := decodeOffset(binary.BigEndian.AppendUint64(nil, want))
		if want > math.MaxInt { // a 32-bit int: refused, never truncated
			if err == nil {
				t.Errorf("offset %d decoded as %d on a %d-bit int", want, got, strconv.IntSize)
			}
			continue
		}
		if err != nil || uint64(got) != want {
			t.Errorf("offset %d decoded as %d, %v", want, got, err)
		}
	}
	for _, v := range [][]byte{{1, 2, 3}, binary.BigEndian.AppendUint64(nil, 1<<63)} {
		if _, err := decodeOffset(v); err == nil {
			t.Errorf("%v decoded", v)
		}
	}
}

func FuzzDecodeOffset(f *testing.F) {
	f.Add(binary.BigEndian.AppendUint64(nil, 102))
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, v []byte) {
		o, err := decodeOffset(v)
		if err != nil {
			return
		}
		if o < 0 || uint64(o) > maxAPIInt {
			t.Fatalf("offset %d", o)
		}
		if o2, err := decodeOffset(binary.BigEndian.AppendUint64(nil, uint64(o))); err != nil || o2 != o {
			t.Fatalf("round trip: %d, then %d (%v)", o, o2, err)
		}
	})
}
