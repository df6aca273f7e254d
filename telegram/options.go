// Package telegram is liqbox's face: it sends each alert to every subscribed
// chat within Telegram's limits, folds cascades into digests, edits alerts
// with the enrichment stage's analysis, and answers the owner's commands.
//
// Ownership: New builds a Bot; Run owns every goroutine (update polling and
// one scheduler per chat) and returns when its context ends and they have
// stopped. Offer and Annotate may be called from any goroutine at any time;
// they never block and Offer never allocates.
package telegram

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/cascade"
	"github.com/liqbox/liqbox/event"
)

// KV is the small persistent key-value store the bot keeps its settings in
// (chat settings, the update offset). The store package implements it over
// bbolt. A missing key reads as (nil, nil). Its writes are synchronous and
// happen only on commands, never on the way to an alert.
type KV interface {
	Get(bucket, key []byte) ([]byte, error)
	Put(bucket, key, value []byte) error
	ForEach(bucket []byte, fn func(k, v []byte) error) error
}

// AsyncKV queues a write for the store's next group commit and returns at
// once, never waiting for the disk; a later write to the same key replaces
// a queued one. It fails only when it cannot queue (the disk is failing and
// the queue is full). The store implements it (Store.PutAsync).
type AsyncKV interface {
	PutAsync(bucket, key, value []byte) error
}

// Acker records that a sink has delivered every event up to seq, so that a
// restart does not deliver them again. The bot acknowledges two sinks per
// chat: "telegram:<chat id>" (alerts) and "telegram-analysis:<chat id>"
// (analyses). The store implements it, writing checkpoints in its batches.
type Acker interface {
	Ack(sink string, seq uint64)
}

// Log is the event log read back at start, so that what a crash interrupted
// is delivered after all. The store implements it.
type Log interface {
	// Checkpoint returns the highest sequence number sink acknowledged, 0
	// if it never did.
	Checkpoint(sink string) uint64
	// Redeliver calls fn, outside any transaction, for each logged event
	// after sink's checkpoint received within maxAge of now, with
	// event.FlagReplay set; older ones are only counted as skipped.
	Redeliver(sink string, maxAge time.Duration, now time.Time, fn func(*event.Event)) (redelivered, skipped int, err error)
}

// AnalysisSource returns the stored analysis of an alert, so that an
// analysis that was made but not yet shown when the box stopped can be
// shown after the restart.
type AnalysisSource interface {
	LoadAnalysis(seq uint64) (a event.Analysis, ok bool, err error)
}

// History reads the event log for /stats, /top and /chart. Scan calls fn for
// every event with a receive time in [from, to), oldest first; the pointer is
// valid only during the call.
type History interface {
	Scan(from, to time.Time, fn func(*event.Event) error) error
}

// VenueStatus is one venue's line in /status.
type VenueStatus struct {
	Venue       string
	Connections int           // connections currently open
	Configured  int           // connections configured
	LastFrame   time.Duration // age of the newest frame; negative if none yet
	Gaps24h     int           // gaps in the last 24 h, the ongoing ones included
	// Coverage says whether the venue's figures are complete or a lower
	// bound, with the venue's rule (event.VenueCoverage implements it);
	// nil leaves the line out.
	Coverage Localized
}

// GapStatus is a gap going on: a stream blind since Start, For so far.
type GapStatus struct {
	Venue, Stream, Cause string
	Start                time.Time
	For                  time.Duration
}

// DecodeStatus is a stream whose frames failed to decode above the
// warning threshold over the last minute.
type DecodeStatus struct {
	Venue, Stream  string
	Errors, Frames uint64
	Ratio          float64
}

// SourceStatus is one venue's race between its own feed and the relay:
// the liquidations both delivered, by which was first, the first one's
// lead (p50, p99; negative while it was never first) and the copies that
// disagreed, by field.
type SourceStatus struct {
	Venue                        string
	DirectFirst, RelayFirst      uint64
	DirectLeadP50, DirectLeadP99 time.Duration
	RelayLeadP50, RelayLeadP99   time.Duration
	Side, USD, Price             uint64
}

// StatusReport is what /status shows. main fills it from the components.
type StatusReport struct {
	Venues []VenueStatus
	// Blind lists the gaps going on now; Decode the streams whose decode
	// failures are over the threshold. Each gets a warning line.
	Blind     []GapStatus
	Decode    []DecodeStatus
	RingDepth int
	RingCap   int
	RingDrops uint64
	DiskBytes int64
	DiskLimit int64 // 0 when unbounded
	// Enrich is the enrichment stage's line, written in the chat's
	// language (enrich.Status implements it).
	Enrich Localized
	// Enrichment is an English one-line summary, shown as it is when
	// Enrich is nil.
	Enrichment string
	// Bus is the bus's lines (connection, publish and consume lag, remote
	// boxes) in the chat's language; nil when the box uses no bus.
	Bus Localized
	// ClockOffset is the estimate of the box clock's offset from the
	// exchanges (plus network latency); Known is false before any event.
	// ClockWarn is set when it exceeds the configured bound ClockBound.
	ClockOffset time.Duration
	ClockKnown  bool
	ClockWarn   bool
	ClockBound  time.Duration
	Version     string
	Uptime      time.Duration
	// Sources is each relayed venue's race (empty without the relay).
	Sources []SourceStatus
}

// Localized is a text its source writes in each language the bot speaks
// ("en", "vi"), falling back to English.
type Localized interface {
	Text(lang string) string
}

// StatusSource provides the /status report.
type StatusSource interface {
	Status() StatusReport
}

// CostSource provides the /cost report: plain text (the bot escapes it),
// in the requested language where the source supports it.
type CostSource interface {
	CostReport(lang string) string
}

// Limits are Telegram's sending limits and how the bot spends them. The
// defaults are Telegram's documented limits; tests shrink them.
type Limits struct {
	// PerChat is the sustained spacing of messages to one chat (1 s): a
	// chat's budget refills by one message per PerChat.
	PerChat time.Duration
	// Burst is how many messages a chat's budget holds (default 3, at
	// least 2): after a quiet spell this many may go back to back.
	// Telegram tolerates short bursts over one a second; a larger burst
	// risks 429s.
	Burst int
	// Reserve is the part of the budget only raw alerts may spend
	// (default 1, from 1 to Burst-1; also kept free in a group's window).
	// Analyses, digest closing edits and command replies go only while
	// more than Reserve messages are left, so the next Reserve alerts after
	// any of them go at once. A larger reserve delays analyses.
	Reserve     int
	GroupWindow time.Duration // window for the group limit (1 min)
	GroupMax    int           // messages per window to one group (20)
	// Global is the least average spacing of all messages (1/30 s): at
	// most 1 s / Global messages in any second, of which spare-class
	// messages may use two thirds.
	Global time.Duration
}

// DefaultLimits are Telegram's documented limits.
var DefaultLimits = Limits{
	PerChat:     time.Second,
	Burst:       3,
	Reserve:     1,
	GroupWindow: time.Minute,
	GroupMax:    20,
	Global:      time.Second / 30,
}

// Options configure a Bot. Zero values take the documented defaults.
type Options struct {
	// Token is the bot token (from TELEGRAM_BOT_TOKEN). It is a secret:
	// the bot never logs it and scrubs it from every error it returns.
	Token string
	// APIURL is the Bot API server, default https://api.telegram.org.
	APIURL string
	// Chats are the chats subscribed by configuration. /stop in such a
	// chat still unsubscribes it; the choice is persisted.
	Chats []int64
	// AllowUsers are the Telegram user ids allowed to command the bot.
	AllowUsers []int64
	// MinUSD is the default alert threshold of a chat that has not set one.
	MinUSD float64
	// Lang is the default language ("en").
	Lang string
	// RedeliverMaxAge bounds how old (since it was received) an alert a
	// chat had not acknowledged may be and still be sent after a restart,
	// marked as replayed (default 5 min).
	RedeliverMaxAge time.Duration
	// AnalysisMaxAge bounds how old (since the liquidation was received)
	// an alert may be and still get its analysis in the chat (default
	// 60 s). Older analyses are counted and left in the log.
	AnalysisMaxAge time.Duration
	// Shadow sends alerts only to ShadowChat, or, when ShadowChat is 0, to
	// nobody (each alert is logged instead). A shadow bot does not poll
	// for commands, so it can run beside the production bot on one token.
	Shadow     bool
	ShadowChat int64
	// MetricsChatLabels exports each chat's backlog as
	// liqbox_telegram_chat_queue_depth{chat="<id>"}. Off by default: chat
	// ids identify people, and the aggregate gauges usually suffice.
	MetricsChatLabels bool
	// Limits are Telegram's limits (default DefaultLimits).
	Limits Limits
	// QueueSize bounds each chat's queue of waiting alerts (default 1024).
	QueueSize int
	// DigestMin is the queue length at a send slot that starts a cascade
	// digest (default 3).
	DigestMin int
	// CascadeIdle is how long a cascade's digest stays open for more
	// alerts after the last one (default 10 s).
	CascadeIdle time.Duration
	// PollTimeout is the long-polling timeout (default 30 s). PollInterval
	// is the least time between two getUpdates calls, so that a server that
	// answers at once is not hammered (default 250 ms).
	PollTimeout  time.Duration
	PollInterval time.Duration
	// RequestTimeout bounds one Bot API request (default PollTimeout+15 s
	// for getUpdates, 15 s for the rest).
	RequestTimeout time.Duration

	// Cascades takes each chat's cascade rules (the cascade.Engine, whose
	// Sink calls CascadeOpened, CascadeUpdated and CascadeClosed);
	// optional. CascadeRules are the rules of a chat that has not set its
	// own (the configuration's telegram.cascades). CascadeEdit is the least
	// time between two edits of a cascade's message (default 3 s; longer
	// for long windows, see editEvery).
	Cascades     RuleSetter
	CascadeRules []cascade.Rule
	CascadeEdit  time.Duration
	// Observer is told what reached Telegram (optional).
	Observer Observer

	KV KV
	// AsyncKV persists the message ids of alerts awaiting their analysis,
	// after the send and without waiting (optional: without it analyses
	// pending at a stop are not shown after the restart).
	AsyncKV AsyncKV
	Acker   Acker
	// Log is read at start to redeliver what the chats had not
	// acknowledged (optional: without it nothing is redelivered).
	Log Log
	// Analyses provides stored analyses for alerts still awaiting theirs
	// at start (optional).
	Analyses AnalysisSource
	History  History
	Status   StatusSource
	Cost     CostSource
	Metrics  *metrics.Set
	Logger   *slog.Logger
}

// Observer hands what Telegram accepted to a load test or a test as
// objects: the message id of each request, which a loopback Bot API saw
// arrive, and the events it carried, so latency is measured at the Bot
// API without reading any text. Every func may be nil; each is called on
// the chat's goroutine right after Telegram answered the request, and must
// return at once. Slices and pointers are valid only during the call.
type Observer struct {
	// Alert: a raw alert went on its own (see AlertSent).
	Alert func(AlertSent)
	// Digest: the cascade digest msgID was sent (edit false) or edited
	// (edit true) to fold in evs, the alerts this request added; it now
	// counts count alerts (those folded at a full queue included, which
	// evs does not list).
	Digest func(chat int64, msgID int, edit bool, count int, evs []event.Event)
	// Analyses: the analyses of the alerts seqs reached the chat, by an
	// edit of their alert's message msgID (edit true, one seq) or in the
	// reply msgID (edit false, one or more seqs).
	Analyses func(chat int64, msgID int, edit bool, seqs []uint64)
}

// AlertSent is what Observer.Alert is told of a raw alert Telegram
// accepted.
type AlertSent struct {
	Chat  int64
	MsgID int
	Event *event.Event // valid only during the call
	// Built is when the request was handed to the HTTP client: Event.RecvNs
	// to Built is the box's own part of the alert's latency.
	Built time.Time
	// LimitWait is how long the alert waited for Telegram's limits after
	// it arrived (what its "⏳" line shows), spent by the chat's earlier
	// messages.
	LimitWait time.Duration
}

// Errors returned by New.
var (
	ErrNoToken   = errors.New("telegram: no bot token")
	ErrNoKV      = errors.New("telegram: no KV store")
	ErrBadLimits = errors.New("telegram: bad limits")
)

// check refuses limits that would starve a class for good: a burst of one
// leaves no room for a reserve, and a reserve as large as the budget (or a
// group's window) would never let an analysis go.
func (l Limits) check() error {
	switch {
	case l.Burst < 2:
		return fmt.Errorf("%w: burst %d, want at least 2", ErrBadLimits, l.Burst)
	case l.Reserve >= l.Burst:
		return fmt.Errorf("%w: reserve %d, want less than burst (%d)", ErrBadLimits, l.Reserve, l.Burst)
	case l.Reserve >= l.GroupMax:
		return fmt.Errorf("%w: reserve %d, want less than group_max (%d)", ErrBadLimits, l.Reserve, l.GroupMax)
	}
	return nil
}

func (o *Options) fill() {
	if o.APIURL == "" {
		o.APIURL = "https://api.telegram.org"
	}
	if o.Lang == "" {
		o.Lang = "en"
	}
	if o.MinUSD <= 0 {
		o.MinUSD = 100_000
	}
	if o.RedeliverMaxAge <= 0 {
		o.RedeliverMaxAge = 5 * time.Minute
	}
	if o.AnalysisMaxAge <= 0 {
		o.AnalysisMaxAge = 60 * time.Second
	}
	if o.Limits.PerChat <= 0 {
		o.Limits.PerChat = DefaultLimits.PerChat
	}
	if o.Limits.Burst <= 0 {
		o.Limits.Burst = DefaultLimits.Burst
	}
	if o.Limits.Reserve <= 0 {
		o.Limits.Reserve = DefaultLimits.Reserve
	}
	if o.Limits.GroupWindow <= 0 {
		o.Limits.GroupWindow = DefaultLimits.GroupWindow
	}
	if o.Limits.GroupMax <= 0 {
		o.Limits.GroupMax = DefaultLimits.GroupMax
	}
	if o.Limits.Global <= 0 {
		o.Limits.Global = DefaultLimits.Global
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.DigestMin <= 1 {
		o.DigestMin = 3
	}
	if o.CascadeIdle <= 0 {
		o.CascadeIdle = 10 * time.Second
	}
	if o.CascadeEdit <= 0 {
		o.CascadeEdit = 3 * time.Second
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 30 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 15 * time.Second
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}
