package telegram

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/logthrottle"
)

// The records the bot reads back from the log at start. One that does not
// decode (a torn write, an older version's bug, an edit by hand) is
// skipped, logged and counted in liqbox_telegram_bad_records_total: it
// never stops the box, and every other record is served. Only a failure
// to read the log itself is an error.
const (
	recChat     = "chat_settings"     // bucketChats: a chat's settings
	recAwaiting = "awaiting_analysis" // bucketSent: a chat's alerts awaiting analysis
	recCascades = "cascades"          // bucketCascades: a chat's cascade messages
	recOffset   = "update_offset"     // bucketState: the getUpdates offset
)

// badRecordKinds are the label values of liqbox_telegram_bad_records_total.
var badRecordKinds = []string{recChat, recAwaiting, recCascades, recOffset}

func badRecordCounters(s *metrics.Set) map[string]*metrics.Counter {
	return labelledCounters(s, `liqbox_telegram_bad_records_total`, "Records of the log the bot could not read back at start, by record (chat_settings, awaiting_analysis, cascades, update_offset): skipped and logged; the others are served.", "record", badRecordKinds)
}

// skippedRecords logs the records skipped while reading the log back: one
// line per period (a log full of bad records must not flood the log), and
// how many were skipped in all once the reading is done.
type skippedRecords struct {
	log *slog.Logger
	th  logthrottle.Throttle

	mu sync.Mutex     // guards n: the chats' schedulers read their records concurrently
	n  map[string]int // records skipped, by kind
}

func newSkippedRecords(log *slog.Logger) *skippedRecords {
	return &skippedRecords{log: log, th: logthrottle.Throttle{Every: time.Minute}, n: map[string]int{}}
}

// skip logs one record of kind (key: its key in the log) skipped for err.
func (r *skippedRecords) skip(kind string, key []byte, err error) {
	r.mu.Lock()
	r.n[kind]++
	r.mu.Unlock()
	if held, ok := r.th.Allow(time.Now()); ok {
		r.log.Error("skipping a record of the log that cannot be read; the others are served",
			"record", kind, "key", string(key), "err", err, "skipped_unlogged", held)
	}
}

// summary logs how many records of kind were skipped, when more than the
// one line skip let through may have been.
func (r *skippedRecords) summary(kind string) {
	r.mu.Lock()
	n := r.n[kind]
	r.mu.Unlock()
	if n > 1 {
		r.log.Warn("skipped records of the log that cannot be read", "record", kind, "skipped", n)
	}
}

// badRecord counts and logs one record the bot skipped at start.
func (b *Bot) badRecord(kind string, key []byte, err error) {
	b.m.badRecords[kind].Inc()
	b.skipped.skip(kind, key, err)
}

// forEachSettings calls fn with each chat's settings in kv, decoded over
// def() (the defaults of a chat that never set a value); a record that
// does not decode goes to bad instead. Only a failure to read kv is
// returned. k is valid only during the call.
func forEachSettings(kv KV, def func() *settings, fn func(id int64, s *settings), bad func(k []byte, err error)) error {
	return kv.ForEach(bucketChats, func(k, v []byte) error {
		id, s, err := decodeSettings(k, v, def())
		if err != nil {
			bad(k, err)
			return nil
		}
		fn(id, s)
		return nil
	})
}

// maxAPIInt is the largest integer the Bot API uses (ids fit in 53 bits):
// a stored message id or offset beyond it was not written by a send.
const maxAPIInt = 1<<53 - 1

// Errors of the binary records' decoders.
var (
	errRecordVersion = errors.New("unknown record version")
	errRecordLength  = errors.New("record length does not fit its format")
)

// appendSent appends one alert awaiting its analysis to a bucketSent
// value (after its version byte).
func appendSent(v []byte, seq uint64, p persistedAlert) []byte {
	v = binary.BigEndian.AppendUint64(v, seq)
	v = binary.BigEndian.AppendUint64(v, uint64(p.msgID))
	v = binary.BigEndian.AppendUint64(v, uint64(p.facts.onBox))
	v = binary.BigEndian.AppendUint64(v, uint64(p.facts.wait))
	v = binary.BigEndian.AppendUint64(v, uint64(p.facts.late))
	return append(v, byte(p.facts.replay))
}

// decodeSent reads a bucketSent value (empty: nothing awaits). A value of
// another version or shape is an error; an entry that no send can have
// written (a message id below 1, an unknown replay kind) is left out and
// counted in dropped, the others are kept.
func decodeSent(v []byte) (m map[uint64]persistedAlert, dropped int, err error) {
	if len(v) == 0 {
		return nil, 0, nil
	}
	if v[0] != sentVersion {
		return nil, 0, fmt.Errorf("cannot decode alerts awaiting analysis: %w: %d, want %d", errRecordVersion, v[0], sentVersion)
	}
	if (len(v)-1)%sentEntrySize != 0 {
		return nil, 0, fmt.Errorf("cannot decode alerts awaiting analysis: %w: %d bytes, want 1 + n × %d", errRecordLength, len(v), sentEntrySize)
	}
	m = make(map[uint64]persistedAlert, (len(v)-1)/sentEntrySize)
	for p := v[1:]; len(p) >= sentEntrySize; p = p[sentEntrySize:] {
		seq := binary.BigEndian.Uint64(p)
		id := binary.BigEndian.Uint64(p[8:])
		kind := replayKind(p[40])
		if id < 1 || id > maxAPIInt || kind > fromLog {
			dropped++
			continue
		}
		m[seq] = persistedAlert{
			msgID: int(id),
			facts: alertFacts{
				onBox:  time.Duration(binary.BigEndian.Uint64(p[16:])),
				wait:   time.Duration(binary.BigEndian.Uint64(p[24:])),
				late:   time.Duration(binary.BigEndian.Uint64(p[32:])),
				replay: kind,
			},
		}
	}
	return m, dropped, nil
}

// decodeCascades reads a bucketCascades value. A record that names a rule
// the parser would refuse or no message is left out and counted in
// dropped, the others are kept.
func decodeCascades(v []byte) (recs []cascadeRecord, dropped int, err error) {
	var all []cascadeRecord
	if err := json.Unmarshal(v, &all); err != nil {
		return nil, 0, fmt.Errorf("cannot decode cascade messages: %w", err)
	}
	for _, rec := range all {
		if _, ok := rec.Rule.rule(); !ok || rec.MsgID < 1 {
			dropped++
			continue
		}
		recs = append(recs, rec)
	}
	return recs, dropped, nil
}

// decodeOffset reads the stored getUpdates offset (empty: none stored).
func decodeOffset(v []byte) (int, error) {
	if len(v) == 0 {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("cannot decode update offset: %w: %d bytes, want 8", errRecordLength, len(v))
	}
	u := binary.BigEndian.Uint64(v)
	// A 32-bit box's int ends before the API's 53 bits: refused, not
	// truncated.
	if u > maxAPIInt || u > math.MaxInt {
		return 0, fmt.Errorf("cannot decode update offset: %d is beyond any update id", u)
	}
	return int(u), nil
}
