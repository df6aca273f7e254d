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
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/liqbox/liqbox/event"
)

// KV is the small persistent key-value store the bot keeps its state in
// (chat settings, the update offset, the outbox). The store package
// implements it over bbolt. A missing key reads as (nil, nil).
type KV interface {
	Get(bucket, key []byte) ([]byte, error)
	Put(bucket, key, value []byte) error
	Delete(bucket, key []byte) error
	ForEach(bucket []byte, fn func(k, v []byte) error) error
}

// Acker records that a sink has delivered an event, so that a restart does
// not deliver it again. Sink names are "telegram:<chat id>".
type Acker interface {
	Ack(sink string, seq uint64)
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
	Gaps24h     int           // reconnect gaps in the last 24 h
}

// StatusReport is what /status shows. main fills it from the components.
type StatusReport struct {
	Venues     []VenueStatus
	RingDepth  int
	RingCap    int
	RingDrops  uint64
	DiskBytes  int64
	DiskLimit  int64  // 0 when unbounded
	Enrichment string // e.g. "ok", "circuit open", "budget exhausted", "off"
	// ClockOffset is the estimate of the box clock's offset from the
	// exchanges (plus network latency); Known is false before any event.
	// ClockWarn is set when it exceeds the configured bound ClockBound.
	ClockOffset time.Duration
	ClockKnown  bool
	ClockWarn   bool
	ClockBound  time.Duration
	Version     string
	Uptime      time.Duration
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

// Limits are Telegram's sending limits. The defaults are Telegram's
// documented ones; tests shrink them.
type Limits struct {
	PerChat     time.Duration // minimum spacing of messages to one chat (1 s)
	GroupWindow time.Duration // window for the group limit (1 min)
	GroupMax    int           // messages per window to one group (20)
	Global      time.Duration // minimum spacing of all messages (1/30 s)
}

// DefaultLimits are Telegram's documented limits.
var DefaultLimits = Limits{
	PerChat:     time.Second,
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
	// RedeliverMaxAge bounds how old an undelivered outbox alert may be
	// and still be sent after a restart (default 5 min).
	RedeliverMaxAge time.Duration
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

	KV      KV
	Acker   Acker
	History History
	Status  StatusSource
	Cost    CostSource
	Metrics *metrics.Set
	Logger  *slog.Logger
}

// Errors returned by New.
var (
	ErrNoToken = errors.New("telegram: no bot token")
	ErrNoKV    = errors.New("telegram: no KV store")
)

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
	if o.Limits.PerChat <= 0 {
		o.Limits.PerChat = DefaultLimits.PerChat
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
