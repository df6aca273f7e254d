package telegram

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"

	"github.com/liqbox/liqbox/event"
)

// decodeSettings reads one chat's record of the chats bucket over def (the
// defaults of a chat that never set a value).
func decodeSettings(k, v []byte, def *settings) (int64, *settings, error) {
	id, err := strconv.ParseInt(string(k), 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot parse chat id %q: %w", k, err)
	}
	// The record is decoded over def itself: keep the defaults that stand
	// in for a value the record has wrong.
	minUSD, code := def.MinUSD, def.Lang
	s := def
	if err := json.Unmarshal(v, s); err != nil {
		return 0, nil, fmt.Errorf("cannot decode settings of chat %d: %w", id, err)
	}
	if s.Mutes == nil {
		s.Mutes = map[string]int64{}
	}
	if _, ok := languages[s.Lang]; !ok {
		s.Lang = code
	}
	if !(s.MinUSD > 0) {
		s.MinUSD = minUSD
	}
	return id, s, nil
}

// ChatFilter is one chat's alert filters (threshold, symbols, sides,
// venues) as the log holds them, for the tools that ask which alerts a
// chat would have received from a log (liqbox compare).
type ChatFilter struct {
	Chat int64
	s    *settings
}

// LoadChatFilters reads every chat whose settings are in the log (chats
// that used a command; a chat only named in telegram.chats, with the
// defaults, has no record), oldest id first; minUSD is the threshold of a
// chat that never set one (telegram.min_usd). A record that cannot be read
// is skipped with a line in slog's default log; the others are returned.
func LoadChatFilters(kv KV, minUSD float64) ([]ChatFilter, error) {
	var out []ChatFilter
	skipped := newSkippedRecords(slog.Default().With("component", "telegram"))
	err := forEachSettings(kv, func() *settings { return &settings{MinUSD: minUSD, Lang: "en"} }, func(id int64, s *settings) {
		out = append(out, ChatFilter{Chat: id, s: s.prepare()})
	}, func(k []byte, err error) { skipped.skip(recChat, k, err) })
	skipped.summary(recChat)
	if err != nil {
		return nil, fmt.Errorf("cannot load telegram chat settings: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Chat < out[j].Chat })
	return out, nil
}

// Subscribed reports whether the chat gets alerts at all (it may have
// sent /stop).
func (f ChatFilter) Subscribed() bool { return f.s.Subscribed }

// MinUSD is the chat's threshold.
func (f ChatFilter) MinUSD() float64 { return f.s.MinUSD }

// Accepts reports whether the chat's filters let ev through. Mutes are
// not applied: they are temporary and the log does not say since when.
func (f ChatFilter) Accepts(ev *event.Event) bool {
	return f.s.accepts(ev, math.MaxInt64, &lazyAsset{})
}
